// Package controller is the swarm leader's reconcile loop: it watches the
// cluster store and, whenever a service, task or node changes (or a restart
// or update delay ends), asks the orchestrator what each service needs,
// places new tasks with the scheduler, and writes the result back in one
// optimistic transaction. Only the elected leader runs it
// (store.RunAsLeader); workers never write tasks except their status.
package controller
