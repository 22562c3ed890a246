package engine

import (
	"testing"
	"time"
)

func TestPendingWait(t *testing.T) {
	var p pending
	done := p.begin("a")
	waited := make(chan struct{})
	go func() { p.wait(); close(waited) }()
	select {
	case <-waited:
		t.Fatal("wait returned before the work was done")
	case <-time.After(50 * time.Millisecond):
	}
	done()
	<-waited
	p.wait() // nothing pending: returns at once
}
