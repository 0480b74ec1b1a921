package sqlite

import (
	"context"
	"fmt"

	"tipoff/batch"
)

// The counts read only the (topic, visible_at, leased) index, on the read
// pool, so they never wait for writers.
const depthSQL = `SELECT topic,
	count(*) FILTER (WHERE visible_at <= ?1),
	count(*) FILTER (WHERE visible_at > ?1 AND leased = 1),
	count(*) FILTER (WHERE visible_at > ?1 AND leased = 0)
	FROM queue_messages`

// Depth returns the depth of topic; a topic without messages has zero
// counts.
func (q *Queue) Depth(ctx context.Context, topic string) (batch.TopicDepth, error) {
	d := batch.TopicDepth{Topic: topic}
	var name any
	err := q.db.read.QueryRowContext(ctx, depthSQL+" WHERE topic = ?2", q.now(), topic).
		Scan(&name, &d.Ready, &d.Leased, &d.Delayed)
	if err != nil {
		return batch.TopicDepth{}, fmt.Errorf("queue depth of %s: %w", topic, err)
	}
	return d, nil
}

// Depths returns the depth of every topic that has messages, dead-letter
// topics included, ordered by topic.
func (q *Queue) Depths(ctx context.Context) ([]batch.TopicDepth, error) {
	rows, err := q.db.read.QueryContext(ctx, depthSQL+" GROUP BY topic ORDER BY topic", q.now())
	if err != nil {
		return nil, fmt.Errorf("queue depths: %w", err)
	}
	defer rows.Close()
	var ds []batch.TopicDepth
	for rows.Next() {
		var d batch.TopicDepth
		if err := rows.Scan(&d.Topic, &d.Ready, &d.Leased, &d.Delayed); err != nil {
			return nil, fmt.Errorf("queue depths: %w", err)
		}
		ds = append(ds, d)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("queue depths: %w", err)
	}
	return ds, nil
}

// DeadLetters returns how many messages of topic wait in its dead-letter
// topic ([batch.DeadLetterTopic]).
func (q *Queue) DeadLetters(ctx context.Context, topic string) (int, error) {
	var n int
	err := q.db.read.QueryRowContext(ctx, "SELECT count(*) FROM queue_messages WHERE topic = ?", batch.DeadLetterTopic(topic)).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("dead letters of %s: %w", topic, err)
	}
	return n, nil
}
