package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/distribution/reference"
	"github.com/docker/cli/cli/config"
	"github.com/docker/cli/cli/config/configfile"
	"github.com/docker/cli/cli/config/types"
	"github.com/moby/moby/api/pkg/authconfig"
	"github.com/moby/moby/api/types/registry"
	"github.com/moby/moby/client"
	"github.com/moby/term"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/spf13/cobra"

	"wharf.io/wharf/registry/platform"
)

// defaultRegistryServer is the key the docker CLI files Docker Hub
// credentials under.
const defaultRegistryServer = "https://index.docker.io/v1/"

// loadConfigFile reads $DOCKER_CONFIG/config.json (default
// ~/.docker/config.json), the file the docker CLI keeps credentials in.
func loadConfigFile() (*configfile.ConfigFile, error) {
	return config.Load(config.Dir())
}

// serverKey is how the docker CLI names a registry in config.json:
// Docker Hub by its legacy URL, others by host[:port].
func serverKey(server string) string {
	s := strings.TrimPrefix(strings.TrimPrefix(server, "https://"), "http://")
	s, _, _ = strings.Cut(s, "/")
	switch s {
	case "", "docker.io", "index.docker.io", "registry-1.docker.io":
		return defaultRegistryServer
	}
	return s
}

// credentials is the X-Registry-Auth value for the registry of image ref,
// from config.json and its credential helpers; "" when there is none. A
// credential helper that fails is an error, as with the docker CLI: a
// pull or push must not go on anonymously when the user has credentials.
func (c *CLI) credentials(ref string) (string, error) {
	named, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		return "", nil // the daemon words the bad reference
	}
	cf, err := loadConfigFile()
	if err != nil {
		return "", err
	}
	key := serverKey(reference.Domain(named))
	ac, err := cf.GetAuthConfig(key)
	if err != nil {
		return "", err
	}
	if ac.Username == "" && ac.IdentityToken == "" && ac.RegistryToken == "" {
		return "", nil
	}
	return authconfig.Encode(registry.AuthConfig{
		Username: ac.Username, Password: ac.Password, ServerAddress: key,
		IdentityToken: ac.IdentityToken, RegistryToken: ac.RegistryToken,
	})
}

type loginOptions struct {
	Username      string
	Password      string
	PasswordStdin bool
}

func newLoginCommand(c *CLI) *cobra.Command {
	var o loginOptions
	cmd := &cobra.Command{
		Use:   "login [OPTIONS] [SERVER]",
		Short: "Log in to a registry",
		Long:  "Log in to a registry.\nIf no server is specified, the default is defined by the daemon.",
		Args:  rangeArgs(0, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			server := defaultRegistryServer
			if len(args) == 1 {
				server = args[0]
			}
			return runLogin(cmd.Context(), c, serverKey(server), o)
		},
	}
	f := cmd.Flags()
	f.StringVarP(&o.Username, "username", "u", "", "Username")
	f.StringVarP(&o.Password, "password", "p", "", "Password")
	f.BoolVar(&o.PasswordStdin, "password-stdin", false, "Take the password from stdin")
	return cmd
}

func runLogin(ctx context.Context, c *CLI, key string, o loginOptions) error {
	if o.Password != "" {
		fmt.Fprintln(c.Err, "WARNING! Using --password via the CLI is insecure. Use --password-stdin.")
		if o.PasswordStdin {
			return errors.New("--password and --password-stdin are mutually exclusive")
		}
	}
	if o.PasswordStdin {
		if o.Username == "" {
			return errors.New("Must provide --username with --password-stdin")
		}
		b, err := io.ReadAll(c.In)
		if err != nil {
			return err
		}
		o.Password = strings.TrimRight(string(b), "\r\n")
	}
	api, err := c.Client()
	if err != nil {
		return err
	}
	cf, err := loadConfigFile()
	if err != nil {
		return err
	}
	// Without credentials on the command line, stored ones are tried first.
	if o.Username == "" && o.Password == "" {
		if ac, err := cf.GetAuthConfig(key); err == nil && ac.Username != "" && (ac.Password != "" || ac.IdentityToken != "") {
			fmt.Fprintln(c.Out, "Authenticating with existing credentials...")
			res, err := api.RegistryLogin(ctx, client.RegistryLoginOptions{
				Username: ac.Username, Password: ac.Password, ServerAddress: key, IdentityToken: ac.IdentityToken,
			})
			if err == nil {
				return storeLogin(c, cf, key, ac.Username, ac.Password, res.Auth)
			}
			fmt.Fprintf(c.Err, "Login did not succeed, error: %v\n", err)
		}
	}
	if o.Username == "" || o.Password == "" {
		if err := promptCredentials(c, key, &o); err != nil {
			return err
		}
	}
	if o.Password == "" {
		return errors.New("Error: Password Required")
	}
	res, err := api.RegistryLogin(ctx, client.RegistryLoginOptions{Username: o.Username, Password: o.Password, ServerAddress: key})
	if err != nil {
		return err
	}
	return storeLogin(c, cf, key, o.Username, o.Password, res.Auth)
}

// promptCredentials asks for what the flags did not give, on a terminal
// only, as the docker CLI does.
func promptCredentials(c *CLI, key string, o *loginOptions) error {
	fd, isTerm := term.GetFdInfo(c.In)
	if !isTerm {
		return errors.New("Error: Cannot perform an interactive login from a non TTY device")
	}
	in := bufio.NewReader(c.In)
	if o.Username == "" {
		fmt.Fprint(c.Out, "Username: ")
		line, err := in.ReadString('\n')
		if err != nil && line == "" {
			return err
		}
		o.Username = strings.TrimSpace(line)
		if o.Username == "" {
			return errors.New("Error: Non-null Username Required")
		}
	}
	if o.Password == "" {
		fmt.Fprint(c.Out, "Password: ")
		if st, err := term.SaveState(fd); err == nil {
			_ = term.DisableEcho(fd, st)
			defer func() { _ = term.RestoreTerminal(fd, st) }()
		}
		line, err := in.ReadString('\n')
		fmt.Fprintln(c.Out)
		if err != nil && line == "" {
			return err
		}
		o.Password = strings.TrimRight(line, "\r\n")
	}
	return nil
}

// storeLogin files credentials the registry accepted: in the configured
// credential helper, else base64 in config.json (the docker CLI's file
// store then prints its "stored unencrypted" warning itself).
func storeLogin(c *CLI, cf *configfile.ConfigFile, key, user, password string, res registry.AuthResponse) error {
	ac := types.AuthConfig{Username: user, Password: password, ServerAddress: key}
	if res.IdentityToken != "" {
		ac.Password, ac.IdentityToken = "", res.IdentityToken
	}
	store := cf.GetCredentialsStore(key)
	if err := store.Store(ac); err != nil {
		return fmt.Errorf("Error saving credentials: %w", err)
	}
	status := res.Status
	if status == "" {
		status = "Login Succeeded"
	}
	fmt.Fprintln(c.Out, status)
	return nil
}

func newLogoutCommand(c *CLI) *cobra.Command {
	return &cobra.Command{
		Use:   "logout [SERVER]",
		Short: "Log out from a registry",
		Long:  "Log out from a registry.\nIf no server is specified, the default is defined by the daemon.",
		Args:  rangeArgs(0, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			server := defaultRegistryServer
			if len(args) == 1 {
				server = args[0]
			}
			key := serverKey(server)
			cf, err := loadConfigFile()
			if err != nil {
				return err
			}
			if _, ok := cf.AuthConfigs[key]; !ok && cf.CredentialsStore == "" && cf.CredentialHelpers[key] == "" {
				fmt.Fprintf(c.Out, "Not logged in to %s\n", key)
				return nil
			}
			fmt.Fprintf(c.Out, "Removing login credentials for %s\n", key)
			if err := cf.GetCredentialsStore(key).Erase(key); err != nil {
				fmt.Fprintf(c.Err, "WARNING: could not erase credentials: %s: %v\n", key, err)
			}
			return nil
		},
	}
}

// parsePlatform reads a --platform flag (pull, run, create, import) as
// the daemon will: one parser for both, in registry/platform.
func parsePlatform(s string) (ocispec.Platform, error) {
	return platform.Parse(s)
}

// pushPullRef is the image pull or push names: with --all-tags a bare
// repository, otherwise a tagged one (":latest" when none is given, said
// unless quiet), as docker does.
func pushPullRef(c *CLI, arg string, allTags, quiet bool) (reference.Named, error) {
	named, err := reference.ParseNormalizedNamed(arg)
	if err != nil {
		return nil, err
	}
	if allTags && !reference.IsNameOnly(named) {
		return nil, errors.New("tag can't be used with --all-tags/-a")
	}
	if !allTags && reference.IsNameOnly(named) {
		named = reference.TagNameOnly(named)
		if !quiet {
			fmt.Fprintln(c.Out, "Using default tag: latest")
		}
	}
	return named, nil
}

func newPullCommand(c *CLI) *cobra.Command {
	var o struct {
		All      bool
		Quiet    bool
		Platform string
	}
	cmd := &cobra.Command{
		Use:   "pull [OPTIONS] NAME[:TAG|@DIGEST]",
		Short: "Download an image from a registry",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			named, err := pushPullRef(c, args[0], o.All, o.Quiet)
			if err != nil {
				return err
			}
			auth, err := c.credentials(named.String())
			if err != nil {
				return err
			}
			api, err := c.Client()
			if err != nil {
				return err
			}
			opts := client.ImagePullOptions{All: o.All, RegistryAuth: auth}
			if o.Platform != "" {
				p, err := parsePlatform(o.Platform)
				if err != nil {
					return err
				}
				opts.Platforms = append(opts.Platforms, p)
			}
			resp, err := api.ImagePull(cmd.Context(), named.String(), opts)
			if err != nil {
				return err
			}
			defer resp.Close()
			out := c.Out
			if o.Quiet {
				out = io.Discard
			}
			if err := displayJSON(c, resp, out); err != nil {
				return err
			}
			fmt.Fprintln(c.Out, named.String())
			return nil
		},
	}
	cmd.Flags().BoolVarP(&o.All, "all-tags", "a", false, "Download all tagged images in the repository")
	cmd.Flags().BoolVarP(&o.Quiet, "quiet", "q", false, "Suppress verbose output")
	cmd.Flags().StringVar(&o.Platform, "platform", os.Getenv("DOCKER_DEFAULT_PLATFORM"), "Set platform if server is multi-platform capable")
	return cmd
}

func newPushCommand(c *CLI) *cobra.Command {
	var o struct {
		All   bool
		Quiet bool
	}
	cmd := &cobra.Command{
		Use:   "push [OPTIONS] NAME[:TAG]",
		Short: "Upload an image to a registry",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			named, err := pushPullRef(c, args[0], o.All, o.Quiet)
			if err != nil {
				return err
			}
			auth, err := c.credentials(named.String())
			if err != nil {
				return err
			}
			api, err := c.Client()
			if err != nil {
				return err
			}
			resp, err := api.ImagePush(cmd.Context(), named.String(), client.ImagePushOptions{
				All: o.All, RegistryAuth: auth,
			})
			if err != nil {
				return err
			}
			defer resp.Close()
			out := c.Out
			if o.Quiet {
				out = io.Discard
			}
			if err := displayJSON(c, resp, out); err != nil {
				return err
			}
			if o.Quiet {
				fmt.Fprintln(c.Out, named.String())
			}
			return nil
		},
	}
	cmd.Flags().BoolVarP(&o.All, "all-tags", "a", false, "Push all tags of an image to the repository")
	cmd.Flags().BoolVarP(&o.Quiet, "quiet", "q", false, "Suppress verbose output")
	return cmd
}
