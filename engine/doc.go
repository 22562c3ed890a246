// Package engine is the daemon's core: it wires the image, snapshot, volume and
// runtime stores together and owns the container lifecycle (create, start,
// stop, restart policies, exec, logs, events) and its recovery at start-up.
package engine
