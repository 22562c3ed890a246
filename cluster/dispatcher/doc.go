// Package dispatcher connects a node's agent to the cluster state: it
// hands the agent every task assigned to this node (with the service's
// name, published ports, secrets and configs) whenever they change, and
// writes the agent's status reports back to the task. On a manager it
// reads the local store directly; a worker on another machine will get the
// same feed over the managers' mTLS endpoint.
package dispatcher
