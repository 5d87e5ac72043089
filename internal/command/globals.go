package command

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/reconfig/reconfig/internal/hint"
)

// globals are the options every command shares.
type globals struct {
	cfgDir    string
	statePath string

	endpoints      []string
	srv            string
	discoverySRV   string
	prefix         string
	dialTimeout    time.Duration
	commandTimeout time.Duration

	cacert, cert, key, keyPassphrase string
	insecureSkipVerify               bool
	tlsRequested                     bool
	user, password                   string
	askedPassword                    bool

	color     string
	logFormat string
	debug     bool

	// warnings are said once the output is set up.
	warnings []string
}

const (
	defaultCfgDir   = "/etc/reconfig"
	defaultEndpoint = "http://127.0.0.1:2379"
)

func envs(name string) []string {
	return []string{"RECONFIG_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))}
}

// globalFlags are the options every command shares, declared once, on the app: they
// may follow the command name too, because reorderArgs moves them in front
// of it. A command reads them with c.String and the like, which look the
// name up in the enclosing contexts.
func globalFlags() []cli.Flag {
	str := func(name, usage, value string, aliases ...string) cli.Flag {
		return &cli.StringFlag{Name: name, Usage: usage, Value: value, Aliases: aliases, EnvVars: envs(name), Category: "global"}
	}
	boolean := func(name, usage string, aliases ...string) cli.Flag {
		return &cli.BoolFlag{Name: name, Usage: usage, Aliases: aliases, EnvVars: envs(name), Category: "global"}
	}
	dur := func(name, usage string, value time.Duration) cli.Flag {
		return &cli.DurationFlag{Name: name, Usage: usage, Value: value, EnvVars: envs(name), Category: "global"}
	}
	legacy := func(f cli.Flag) cli.Flag {
		switch f := f.(type) {
		case *cli.StringFlag:
			f.Hidden, f.Category, f.EnvVars = true, "original", nil
		case *cli.BoolFlag:
			f.Hidden, f.Category, f.EnvVars = true, "original", nil
		}
		return f
	}
	return []cli.Flag{
		str("cfgdir", "configuration `DIR` holding conf.d/ and templates/", defaultCfgDir, "c"),
		str("state", "state `FILE` (default: CFGDIR/state.json)", ""),
		str("endpoints", "etcd endpoints, comma-separated `URLS`", defaultEndpoint),
		str("srv", "DNS SRV `RECORD` naming the etcd endpoints (one is picked at random)", ""),
		str("discovery-srv", "`DOMAIN` whose _etcd-client-ssl._tcp / _etcd-client._tcp records list the endpoints", ""),
		str("prefix", "read and watch every key under this `PREFIX`", "", "p"),
		str("cacert", "CA certificate `FILE` to verify etcd", ""),
		str("cert", "client certificate `FILE`", ""),
		str("key", "client key `FILE`", ""),
		str("key-passphrase", "`PASSPHRASE` of an encrypted client key", ""),
		str("key-passphrase-file", "read the client key's passphrase from `FILE`", ""),
		boolean("insecure-skip-tls-verify", "do not verify etcd's certificate"),
		str("user", "etcd user `NAME[:PASSWORD]` (password also from RECONFIG_PASSWORD or --password-file)", ""),
		str("password-file", "read the etcd user's password from `FILE`", ""),
		dur("dial-timeout", "wait up to `DURATION` to establish a connection to etcd", 5*time.Second),
		dur("command-timeout", "limit each etcd request to `DURATION`", 10*time.Second),
		str("color", "color output: `auto`, always or never", "auto"),
		boolean("no-color", "no color output (also NO_COLOR)"),
		str("log-format", "log format: `text` or json", "text"),
		boolean("debug", "log debug messages", "d"),
		// The original reconfig's spellings.
		legacy(str("host", "etcd host", "")),
		legacy(str("port", "etcd port", "")),
		legacy(boolean("ssl", "use TLS", "s")),
		legacy(str("ssl_cafile", "CA file", "")),
		legacy(str("ssl_cert", "certificate file", "")),
		legacy(str("ssl_key", "key file", "")),
		legacy(str("ssl_passphrase", "key passphrase", "")),
	}
}

// rootFlags exist only before any command: the original reconfig's modes.
func rootFlags() []cli.Flag {
	return []cli.Flag{
		&cli.BoolFlag{Name: "notreally", Aliases: []string{"n"}, Usage: "the original's dry run: same as reconfig plan", Category: "original"},
		&cli.BoolFlag{Name: "onetime", Aliases: []string{"o"}, Usage: "the original's one-shot run: same as reconfig apply --auto-approve", Category: "original"},
		&cli.BoolFlag{Name: "version", Usage: "print the version and exit"},
	}
}

// parseGlobals reads the global options, wherever they were given.
func parseGlobals(c *cli.Context) (*globals, error) {
	g := &globals{
		cfgDir:         c.String("cfgdir"),
		statePath:      c.String("state"),
		srv:            c.String("srv"),
		discoverySRV:   c.String("discovery-srv"),
		prefix:         c.String("prefix"),
		dialTimeout:    c.Duration("dial-timeout"),
		commandTimeout: c.Duration("command-timeout"),
		cacert:         firstSet(c, "cacert", "ssl_cafile"),
		cert:           firstSet(c, "cert", "ssl_cert"),
		key:            firstSet(c, "key", "ssl_key"),
		keyPassphrase:  firstSet(c, "key-passphrase", "ssl_passphrase"),

		insecureSkipVerify: c.Bool("insecure-skip-tls-verify"),
		color:              c.String("color"),
		logFormat:          c.String("log-format"),
		debug:              c.Bool("debug"),
	}
	if g.cfgDir == "" {
		g.cfgDir = defaultCfgDir
	}
	if g.statePath == "" {
		g.statePath = filepath.Join(g.cfgDir, "state.json")
	}
	if c.Bool("no-color") {
		g.color = "never"
	} else if !c.IsSet("color") && os.Getenv("NO_COLOR") != "" {
		g.color = "never"
	}
	switch g.color {
	case "auto", "always", "never":
	default:
		return nil, &usageError{msg: fmt.Sprintf("--color %q: want auto, always or never", g.color)}
	}
	switch g.logFormat {
	case "text", "json":
	default:
		return nil, &usageError{msg: fmt.Sprintf("--log-format %q: want text or json", g.logFormat)}
	}
	if g.dialTimeout <= 0 || g.commandTimeout <= 0 {
		return nil, &usageError{msg: "--dial-timeout and --command-timeout must be positive"}
	}
	if g.prefix != "" && !strings.HasPrefix(g.prefix, "/") {
		return nil, &usageError{msg: fmt.Sprintf("--prefix %q must start with \"/\"", g.prefix)}
	}
	g.tlsRequested = c.Bool("ssl") || g.cacert != "" || g.cert != "" || g.insecureSkipVerify

	// Endpoints: --endpoints, or the original's --host/--port.
	eps := c.String("endpoints")
	if eps == "" {
		eps = defaultEndpoint
	}
	host, port := c.String("host"), c.String("port")
	if host != "" || port != "" {
		if eps != defaultEndpoint && eps != "" {
			return nil, &usageError{msg: "give either --endpoints or --host/--port, not both"}
		}
		if host == "" {
			host = "127.0.0.1"
		}
		if port == "" {
			port = "4001" // the original's default
		}
		if _, err := strconv.Atoi(port); err != nil {
			return nil, &usageError{msg: fmt.Sprintf("--port %q is not a number", port)}
		}
		scheme := "http"
		if g.tlsRequested {
			scheme = "https"
		}
		eps = scheme + "://" + net.JoinHostPort(host, port)
	}
	for _, e := range strings.Split(eps, ",") {
		if e = strings.TrimSpace(e); e != "" {
			if !strings.Contains(e, "://") {
				scheme := "http://"
				if g.tlsRequested {
					scheme = "https://"
				}
				e = scheme + e
			}
			g.endpoints = append(g.endpoints, e)
		}
	}
	if len(g.endpoints) == 0 {
		return nil, &usageError{msg: "--endpoints is empty"}
	}

	user := c.String("user")
	if name, pw, ok := strings.Cut(user, ":"); ok {
		g.user, g.password = name, pw
		if onCommandLine(c, "user", "RECONFIG_USER") {
			g.warnings = append(g.warnings, "the password given with --user NAME:PASSWORD is visible to every user of this host in the process list for as long as reconfig runs; use --password-file FILE or RECONFIG_PASSWORD")
		}
	} else {
		g.user = user
		g.password = os.Getenv("RECONFIG_PASSWORD")
	}
	if f := c.String("password-file"); f != "" {
		if _, _, ok := strings.Cut(user, ":"); ok {
			return nil, &usageError{msg: "give the password once: --user NAME:PASSWORD or --password-file, not both"}
		}
		pw, err := readSecretFile("--password-file", f)
		if err != nil {
			return nil, err
		}
		g.password = pw
	}
	if g.keyPassphrase != "" && onCommandLine(c, "key-passphrase", "RECONFIG_KEY_PASSPHRASE") {
		g.warnings = append(g.warnings, "the passphrase given with --key-passphrase is visible to every user of this host in the process list for as long as reconfig runs; use --key-passphrase-file FILE or RECONFIG_KEY_PASSPHRASE")
	}
	if f := c.String("key-passphrase-file"); f != "" {
		pw, err := readSecretFile("--key-passphrase-file", f)
		if err != nil {
			return nil, err
		}
		g.keyPassphrase = pw
	}
	return g, nil
}

// onCommandLine reports whether flag name was given on the command line
// (where ps shows it), not only through its environment variable.
func onCommandLine(c *cli.Context, name, env string) bool {
	v, fromEnv := os.LookupEnv(env)
	return c.IsSet(name) && !(fromEnv && v == c.String(name))
}

// maxSecretFile caps a password or passphrase file.
const maxSecretFile = 64 << 10

// readSecretFile reads a password or passphrase from a file (its first
// line; a file that may be a symlink, as secret mounts are).
func readSecretFile(flag, path string) (string, error) {
	data, err := readOperatorFile(flag, path, maxSecretFile)
	if err != nil {
		return "", hint.Wrap(err, "the file must be a readable regular file holding the secret on its first line")
	}
	line, _, _ := strings.Cut(string(data), "\n")
	return strings.TrimRight(line, "\r"), nil
}

// firstSet returns the first of the named flags that was given, else the
// first's default.
func firstSet(c *cli.Context, names ...string) string {
	for _, n := range names {
		if c.IsSet(n) {
			return c.String(n)
		}
	}
	return c.String(names[0])
}

// colorOn decides whether output to w is colored.
func (g *globals) colorOn(w any) bool {
	switch g.color {
	case "always":
		return true
	case "never":
		return false
	}
	return isTerminal(w)
}
