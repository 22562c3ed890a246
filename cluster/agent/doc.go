// Package agent runs a node's swarm tasks as engine containers. It is the
// worker side of swarm mode: given the tasks assigned to this node it
// creates, starts, stops and removes their containers through a narrow
// Runtime interface (the local engine — the same calls a worker on another
// machine makes), and reports each task's progress (running, complete,
// failed, rejected, shutdown) to whoever assigned it.
//
// Containers carry the labels Docker puts on task containers
// (com.docker.swarm.service.name, com.docker.swarm.task.id, …) and Docker's
// names (<service>.<slot>.<task ID>), so `docker ps` and tools that read
// those labels see what they expect.
package agent
