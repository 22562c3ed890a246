package engine

import "sync"

// pending tracks cleanup that runs in the background after the API call that
// caused it has answered — the unmount, runtime deletion and network release
// after a container exits, the disk reclaim after it is removed — so that
// whoever depends on it (a start of the same container, a port publish,
// network or image removal) can wait for it to finish.
type pending struct {
	mu sync.Mutex // taken with or without a Container.mu, never around one
	m  map[string]chan struct{}
}

// begin records work under key and returns the function that marks it done.
func (p *pending) begin(key string) (done func()) {
	ch := make(chan struct{})
	p.mu.Lock()
	if p.m == nil {
		p.m = map[string]chan struct{}{}
	}
	p.m[key] = ch
	p.mu.Unlock()
	return func() {
		p.mu.Lock()
		if p.m[key] == ch {
			delete(p.m, key)
		}
		p.mu.Unlock()
		close(ch)
	}
}

// wait blocks until all work begun before the call has finished.
func (p *pending) wait() {
	p.mu.Lock()
	chs := make([]chan struct{}, 0, len(p.m))
	for _, ch := range p.m {
		chs = append(chs, ch)
	}
	p.mu.Unlock()
	for _, ch := range chs {
		<-ch
	}
}
