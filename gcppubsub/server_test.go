package gcppubsub_test

import (
	"context"
	"os"
	"testing"

	pb "cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"cloud.google.com/go/pubsub/v2/pstest"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"tipoff/batch/batchtest"
	"tipoff/gcppubsub"
)

// testServer is the Pub/Sub server a test's queues talk to: the emulator
// when PUBSUB_EMULATOR_HOST is set, else an in-process pstest fake. Tests
// that need only a Pub/Sub server use it, so they run without the
// emulator too; tests of what only the emulator does (push, its
// subscription-creation race) use mustOpenEmulator.
type testServer struct {
	fake *pstest.Server // nil on the emulator
	opts []option.ClientOption
}

// newTestServer returns the emulator if PUBSUB_EMULATOR_HOST is set, else
// a fake of the test's own.
func newTestServer(t testing.TB) *testServer {
	t.Helper()
	if os.Getenv("PUBSUB_EMULATOR_HOST") != "" {
		return &testServer{}
	}
	return newFakeServer(t, nil)
}

// newFakeServer starts a pstest fake that reads clock, if not nil, instead
// of the time, and stops it when the test ends. The queues it opens reach
// it whether or not PUBSUB_EMULATOR_HOST is set.
func newFakeServer(t testing.TB, clock *batchtest.ManualClock) *testServer {
	t.Helper()
	srv := pstest.NewServer()
	t.Cleanup(func() {
		if err := srv.Close(); err != nil {
			t.Errorf("close the pstest server: %v", err)
		}
	})
	if clock != nil {
		srv.SetTimeNowFunc(clock.Now)
	}
	return &testServer{fake: srv, opts: []option.ClientOption{
		option.WithEndpoint(srv.Addr),
		option.WithoutAuthentication(),
		option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials())),
	}}
}

func (s *testServer) String() string {
	if s.fake != nil {
		return "pstest"
	}
	return "emulator"
}

// queue returns a queue on a project of its own that sets up topics as
// they are used; opts are added to the server's client options.
func (s *testServer) queue(t testing.TB, cfg gcppubsub.Config, opts ...option.ClientOption) *gcppubsub.Queue {
	t.Helper()
	cfg.Project = batchtest.UniqueID(t)
	cfg.AutoSetup = true
	if cfg.PullWait == 0 && s.fake == nil {
		cfg.PullWait = emuPullWait
	}
	return mustOpen(t, cfg, append(s.clientOptions(), opts...)...)
}

// clientOptions returns the options that connect a client to the server.
func (s *testServer) clientOptions() []option.ClientOption {
	return append([]option.ClientOption(nil), s.opts...)
}

// pullMethod is the gRPC method of a unary Pull.
const pullMethod = "/google.pubsub.v1.Subscriber/Pull"

// watchPulls returns a client option that calls started as each Pull is
// sent and ended with the number of messages it brought and its error:
// tests wait on what the queue is doing instead of sleeping for it.
// Either may be nil.
func watchPulls(started func(), ended func(n int, err error)) option.ClientOption {
	return option.WithGRPCDialOption(grpc.WithChainUnaryInterceptor(
		func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
			if method != pullMethod {
				return invoker(ctx, method, req, reply, cc, opts...)
			}
			if started != nil {
				started()
			}
			err := invoker(ctx, method, req, reply, cc, opts...)
			if ended != nil {
				resp, _ := reply.(*pb.PullResponse)
				ended(len(resp.GetReceivedMessages()), err)
			}
			return err
		}))
}
