package batch

import (
	"encoding/json"
	"fmt"
	"strconv"
	"time"
)

// OutcomeMessage is the body a worker publishes to [TopicOutcomes] for one
// item: the outcome and its result travel together, so recording them is one
// atomic step.
type OutcomeMessage struct {
	BatchID string          `json:"batch_id"`
	ItemID  string          `json:"item_id"`
	Outcome Outcome         `json:"outcome"`
	Result  json.RawMessage `json:"result,omitempty"`
	Error   string          `json:"error,omitempty"`
	Attempt int             `json:"attempt,omitempty"`
	Worker  string          `json:"worker,omitempty"`
	TraceID string          `json:"trace_id,omitempty"`
	At      time.Time       `json:"at"`
}

// Record returns the message as an [OutcomeRecord].
func (m OutcomeMessage) Record() OutcomeRecord {
	return OutcomeRecord{BatchID: m.BatchID, ItemID: m.ItemID, Outcome: m.Outcome, Result: []byte(m.Result), Error: m.Error, At: m.At}
}

// EncodeOutcome returns the wire form of m.
func EncodeOutcome(m OutcomeMessage) ([]byte, error) {
	if err := m.Record().Validate(); err != nil {
		return nil, err
	}
	if len(m.Result) > 0 && !json.Valid(m.Result) {
		return nil, fmt.Errorf("%w: result of %s/%s is not JSON", ErrInvalid, m.BatchID, m.ItemID)
	}
	return json.Marshal(m)
}

// DecodeOutcome parses and validates an outcome message. Every error wraps
// [ErrInvalid]: a message that does not decode never will.
func DecodeOutcome(body []byte) (OutcomeMessage, error) {
	var m OutcomeMessage
	if err := json.Unmarshal(body, &m); err != nil {
		return OutcomeMessage{}, fmt.Errorf("%w: outcome message: %v", ErrInvalid, err)
	}
	if err := m.Record().Validate(); err != nil {
		return OutcomeMessage{}, err
	}
	return m, nil
}

// RequestMessage returns the message that dispatches item it of a batch on
// its given attempt. Its ID is stable per attempt.
func RequestMessage(it Item, attempt int, traceID string) Message {
	attrs := map[string]string{
		AttrBatchID: it.BatchID,
		AttrItemID:  it.ID,
		AttrAttempt: strconv.Itoa(attempt),
	}
	if traceID != "" {
		attrs[AttrTraceID] = traceID
	}
	return Message{
		ID:         it.BatchID + "/" + it.ID + "/" + strconv.Itoa(attempt),
		Body:       it.Request,
		Attributes: attrs,
	}
}

// RequestOf reads the batch and item IDs and attempt from a request
// message's attributes. The error wraps [ErrInvalid].
func RequestOf(m Message) (batchID, itemID string, attempt int, err error) {
	batchID, itemID = m.Attributes[AttrBatchID], m.Attributes[AttrItemID]
	if batchID == "" || itemID == "" {
		return "", "", 0, fmt.Errorf("%w: request message %q lacks %s or %s attribute", ErrInvalid, m.ID, AttrBatchID, AttrItemID)
	}
	if s := m.Attributes[AttrAttempt]; s != "" {
		attempt, err = strconv.Atoi(s)
		if err != nil || attempt < 1 {
			return "", "", 0, fmt.Errorf("%w: request message %q has attempt %q", ErrInvalid, m.ID, s)
		}
	}
	return batchID, itemID, attempt, nil
}
