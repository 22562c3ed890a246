package opts

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
)

// ParseRestartPolicy parses docker's --restart value:
// no | always | unless-stopped | on-failure[:max-retries]. An empty value means "no".
func ParseRestartPolicy(s string) (container.RestartPolicy, error) {
	var p container.RestartPolicy
	name, count, hasCount := strings.Cut(s, ":")
	switch container.RestartPolicyMode(name) {
	case "", container.RestartPolicyDisabled:
		p.Name = container.RestartPolicyDisabled
	case container.RestartPolicyAlways, container.RestartPolicyUnlessStopped:
		p.Name = container.RestartPolicyMode(name)
	case container.RestartPolicyOnFailure:
		p.Name = container.RestartPolicyOnFailure
	default:
		return p, fmt.Errorf("invalid restart policy %q: %w", s, errdefs.ErrInvalidArgument)
	}
	if !hasCount {
		return p, nil
	}
	if p.Name != container.RestartPolicyOnFailure {
		return p, fmt.Errorf("invalid restart policy %q: maximum retry count can only be used with 'on-failure': %w", s, errdefs.ErrInvalidArgument)
	}
	n, err := strconv.Atoi(count)
	if err != nil || n < 0 {
		return p, fmt.Errorf("invalid restart policy %q: maximum retry count must be a non-negative integer: %w", s, errdefs.ErrInvalidArgument)
	}
	p.MaximumRetryCount = n
	return p, nil
}
