package engine

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/moby/moby/api/types/events"
)

// eventLog keeps the recent events for `events --since` and fans live ones out
// to subscribers. Slow subscribers drop events rather than block the engine.
type eventLog struct {
	mu     sync.Mutex
	buf    []events.Message
	subs   map[chan events.Message]struct{}
	maxLen int
}

func newEventLog() *eventLog {
	return &eventLog{subs: map[chan events.Message]struct{}{}, maxLen: 1024}
}

func (l *eventLog) publish(typ events.Type, action events.Action, id string, attrs map[string]string) {
	now := time.Now()
	m := events.Message{Type: typ, Action: action, Actor: events.Actor{ID: id, Attributes: attrs}, Scope: "local", Time: now.Unix(), TimeNano: now.UnixNano()}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf = append(l.buf, m)
	if len(l.buf) > l.maxLen {
		l.buf = l.buf[len(l.buf)-l.maxLen:]
	}
	for ch := range l.subs {
		select {
		case ch <- m:
		default:
		}
	}
}

// Events implements the API's /events: past events matching opts, and live ones.
func (e *Engine) Events(ctx context.Context, opts EventsOptions) ([]events.Message, <-chan events.Message, func()) {
	l := e.events
	l.mu.Lock()
	defer l.mu.Unlock()
	var past []events.Message
	for _, m := range l.buf {
		t := time.Unix(0, m.TimeNano)
		if !opts.Since.IsZero() && t.Before(opts.Since) {
			continue
		}
		if !opts.Until.IsZero() && t.After(opts.Until) {
			continue
		}
		if matchEvent(m, opts.Filters) {
			past = append(past, m)
		}
	}
	if !opts.Until.IsZero() && !opts.Until.After(time.Now()) {
		return past, nil, func() {}
	}
	raw := make(chan events.Message, 256)
	l.subs[raw] = struct{}{}
	out := make(chan events.Message, 256)
	done := make(chan struct{})
	var once sync.Once
	cancel := func() {
		once.Do(func() {
			l.mu.Lock()
			delete(l.subs, raw)
			l.mu.Unlock()
			close(done)
		})
	}
	go func() {
		defer close(out)
		var until <-chan time.Time
		if !opts.Until.IsZero() {
			t := time.NewTimer(time.Until(opts.Until))
			defer t.Stop()
			until = t.C
		}
		for {
			select {
			case m := <-raw:
				if matchEvent(m, opts.Filters) {
					select {
					case out <- m:
					case <-done:
						return
					}
				}
			case <-until:
				cancel()
				return
			case <-done:
				return
			case <-ctx.Done():
				cancel()
				return
			}
		}
	}()
	return past, out, cancel
}

// matchEvent applies docker's event filters: type, event/action, container,
// image, volume, label (key or key=value); several values of one key are OR'ed.
func matchEvent(m events.Message, f Filters) bool {
	for key, vals := range f {
		if len(vals) == 0 {
			continue
		}
		ok := false
		for _, v := range vals {
			switch key {
			case "type":
				ok = ok || string(m.Type) == v
			case "event", "action":
				ok = ok || string(m.Action) == v || strings.HasPrefix(string(m.Action), v+":")
			case "container", "image", "volume", "network":
				if string(m.Type) == key || (key == "image" && m.Type == events.ContainerEventType) {
					ok = ok || m.Actor.ID == v || strings.HasPrefix(m.Actor.ID, v) || m.Actor.Attributes["name"] == v || m.Actor.Attributes["image"] == v
				}
			case "label":
				k, val, hasVal := strings.Cut(v, "=")
				got, present := m.Actor.Attributes[k]
				ok = ok || (present && (!hasVal || got == val))
			default:
				ok = true
			}
		}
		if !ok {
			return false
		}
	}
	return true
}
