package store

import (
	"context"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
)

func electionPrefix(name string) string { return keyRoot + "election/" + name }

// RunAsLeader campaigns for the leadership called name (one per
// controller: "orchestrator", "scheduler", …) and calls fn while this
// member holds it. fn's ctx is cancelled when leadership is lost (the
// session's lease expired, e.g. the member was cut off) or ctx ends; fn
// must then return promptly. If fn returns while still leader, the
// leadership is resigned and campaigned for again, so a controller that
// crashed out is restarted. RunAsLeader blocks until ctx ends and returns
// ctx.Err(); run it in its own goroutine and cancel ctx before Close.
//
// Only one member runs fn at a time across the cluster, as long as the
// members' clocks agree within the session TTL (etcd leases).
func (s *Store) RunAsLeader(ctx context.Context, name string, fn func(ctx context.Context)) error {
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		if s.leadOnce(ctx, name, fn) {
			backoff = 100 * time.Millisecond
			continue
		}
		select {
		case <-ctx.Done():
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
	return ctx.Err()
}

// leadOnce runs one campaign → lead → resign cycle; false means it failed
// before fn ran and the caller should back off.
func (s *Store) leadOnce(ctx context.Context, name string, fn func(ctx context.Context)) bool {
	// The session outlives ctx just long enough to revoke its lease on the
	// way out, so the next leader need not wait for the TTL.
	sctx, scancel := context.WithCancel(context.WithoutCancel(ctx))
	defer scancel()
	sess, err := concurrency.NewSession(s.cli, concurrency.WithTTL(s.sessionTTL), concurrency.WithContext(sctx))
	if err != nil {
		s.log.Warn("election session", "election", name, "error", err)
		return false
	}
	defer sess.Close()
	pfx := electionPrefix(name)
	s.revokeStale(ctx, pfx, sess.Lease())
	el := concurrency.NewElection(sess, pfx)
	if err := el.Campaign(ctx, s.name); err != nil {
		if ctx.Err() == nil {
			s.log.Warn("election campaign", "election", name, "error", err)
		}
		return false
	}
	s.log.Debug("leadership acquired", "election", name)
	lctx, cancel := context.WithCancel(ctx)
	go func() {
		select {
		case <-sess.Done():
			s.log.Warn("leadership lost", "election", name)
			cancel()
		case <-lctx.Done():
		}
	}()
	fn(lctx)
	cancel()
	rctx, rcancel := context.WithTimeout(sctx, 2*time.Second)
	_ = el.Resign(rctx)
	rcancel()
	return true
}

// revokeStale revokes election leases that carry this member's name but
// not its current session: they belong to an earlier run of this member
// (a daemon killed with -9), and waiting for their TTL would only delay
// the restarted member taking over its own role.
func (s *Store) revokeStale(ctx context.Context, pfx string, current clientv3.LeaseID) {
	resp, err := s.cli.Get(ctx, pfx+"/", clientv3.WithPrefix())
	if err != nil {
		return
	}
	for _, kv := range resp.Kvs {
		if string(kv.Value) == s.name && clientv3.LeaseID(kv.Lease) != current && kv.Lease != 0 {
			_, _ = s.cli.Revoke(ctx, clientv3.LeaseID(kv.Lease))
		}
	}
}

// Leader returns the member name currently holding the leadership called
// name, or "" when nobody does.
func (s *Store) Leader(ctx context.Context, name string) (string, error) {
	resp, err := s.cli.Get(ctx, electionPrefix(name)+"/", clientv3.WithFirstCreate()...)
	if err != nil {
		return "", wrapEtcd(err)
	}
	if len(resp.Kvs) == 0 {
		return "", nil
	}
	return string(resp.Kvs[0].Value), nil
}
