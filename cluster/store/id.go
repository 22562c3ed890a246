package store

import (
	"crypto/rand"
	"fmt"
	"math/big"
)

// NewID returns a random 25-character base-36 ID, the shape swarmkit gives
// clusters, nodes, services and tasks (docker prints them untruncated in
// some places and users recognise them).
func NewID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(fmt.Sprintf("store: no randomness: %v", err))
	}
	return fmt.Sprintf("%025s", new(big.Int).SetBytes(b[:]).Text(36))
}
