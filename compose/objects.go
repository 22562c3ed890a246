package compose

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/swarm"
)

// secretSpecs creates the stack's secrets from files, inline content or
// an environment variable; external ones must exist and are only named.
// Every declared secret is created, used or not, as docker does.
func (c *converter) secretSpecs() ([]swarm.SecretSpec, error) {
	var out []swarm.SecretSpec
	for _, key := range sortedKeys(c.p.Secrets) {
		cfg := types.FileObjectConfig(c.p.Secrets[key])
		name := c.objectName(key, cfg.Name, bool(cfg.External))
		c.secrets[key] = name
		if bool(cfg.External) {
			continue
		}
		spec := swarm.SecretSpec{Annotations: swarm.Annotations{Name: name, Labels: c.labels(cfg.Labels)}}
		if cfg.Driver != "" {
			// The data lives in an external store the driver reads.
			spec.Driver = &swarm.Driver{Name: cfg.Driver, Options: cfg.DriverOpts}
		} else {
			data, err := c.objectData(cfg)
			if err != nil {
				return nil, c.errAt([]string{"secrets", key}, "%v", err)
			}
			spec.Data = data
		}
		if cfg.TemplateDriver != "" {
			spec.Templating = &swarm.Driver{Name: cfg.TemplateDriver}
		}
		out = append(out, spec)
	}
	return out, nil
}

// configSpecs is secretSpecs for configs.
func (c *converter) configSpecs() ([]swarm.ConfigSpec, error) {
	var out []swarm.ConfigSpec
	for _, key := range sortedKeys(c.p.Configs) {
		cfg := types.FileObjectConfig(c.p.Configs[key])
		name := c.objectName(key, cfg.Name, bool(cfg.External))
		c.configs[key] = name
		if bool(cfg.External) {
			continue
		}
		data, err := c.objectData(cfg)
		if err != nil {
			return nil, c.errAt([]string{"configs", key}, "%v", err)
		}
		spec := swarm.ConfigSpec{Annotations: swarm.Annotations{Name: name, Labels: c.labels(cfg.Labels)}, Data: data}
		if cfg.TemplateDriver != "" {
			spec.Templating = &swarm.Driver{Name: cfg.TemplateDriver}
		}
		out = append(out, spec)
	}
	return out, nil
}

// objectData reads a secret's or config's content: a file (relative to
// the project), inline content, or an environment variable.
func (c *converter) objectData(cfg types.FileObjectConfig) ([]byte, error) {
	switch {
	case cfg.File != "":
		file := cfg.File
		if !filepath.IsAbs(file) {
			file = filepath.Join(c.p.WorkingDir, file)
		}
		data, err := os.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("%v: %w", err, errdefs.ErrInvalidArgument)
		}
		return data, nil
	case cfg.Content != "":
		return []byte(cfg.Content), nil
	case cfg.Environment != "":
		v, ok := c.p.Environment[cfg.Environment]
		if !ok {
			return nil, fmt.Errorf("environment variable %s is not set: %w", cfg.Environment, errdefs.ErrInvalidArgument)
		}
		return []byte(v), nil
	}
	return nil, fmt.Errorf("no file, content or environment given: %w", errdefs.ErrInvalidArgument)
}

// secretRefs mounts the service's secrets as files: target defaults to
// the secret's key under /run/secrets, owner 0:0, mode 0444.
func (c *converter) secretRefs(svc string, refs []types.ServiceSecretConfig) ([]*swarm.SecretReference, error) {
	var out []*swarm.SecretReference
	for _, ref := range refs {
		name, ok := c.secrets[ref.Source]
		if !ok {
			return nil, c.errAt([]string{"services", svc, "secrets"}, "undefined secret %q", ref.Source)
		}
		// compose-go spells the default target out as /run/secrets/<key>;
		// swarm keeps it relative, as docker stack deploy sends it.
		target := orDefault(ref.Target, ref.Source)
		if target == "/run/secrets/"+ref.Source {
			target = ref.Source
		}
		out = append(out, &swarm.SecretReference{SecretName: name,
			File: &swarm.SecretReferenceFileTarget{Name: target,
				UID: orDefault(ref.UID, "0"), GID: orDefault(ref.GID, "0"), Mode: fileMode(ref.Mode, 0o444)}})
	}
	return out, nil
}

// configRefs mounts configs as files: target defaults to /<key>.
func (c *converter) configRefs(svc string, refs []types.ServiceConfigObjConfig) ([]*swarm.ConfigReference, error) {
	var out []*swarm.ConfigReference
	for _, ref := range refs {
		name, ok := c.configs[ref.Source]
		if !ok {
			return nil, c.errAt([]string{"services", svc, "configs"}, "undefined config %q", ref.Source)
		}
		out = append(out, &swarm.ConfigReference{ConfigName: name,
			File: &swarm.ConfigReferenceFileTarget{Name: orDefault(ref.Target, "/"+ref.Source),
				UID: orDefault(ref.UID, "0"), GID: orDefault(ref.GID, "0"), Mode: fileMode(ref.Mode, 0o444)}})
	}
	return out, nil
}

func fileMode(m *types.FileMode, def os.FileMode) os.FileMode {
	if m == nil {
		return def
	}
	return os.FileMode(*m)
}
