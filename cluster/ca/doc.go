// Package ca is the swarm's certificate authority: a self-signed ECDSA
// P-256 root (20 years, as swarmkit's), node certificates that name the
// node (CN = node ID), its role (OU = swarm-manager|swarm-worker) and its
// cluster (O = cluster ID), the mutual-TLS configurations managers and
// nodes use to talk to each other, and Docker's join tokens
// (SWMTKN-1-<CA digest>-<secret>), which pin the CA and carry the secret a
// joining node presents.
package ca
