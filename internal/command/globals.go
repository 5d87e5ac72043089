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
//
// The command line wins over the environment, whatever the options: where
// options stand for the same setting (--endpoints, --host/--port, --srv,
// --discovery-srv; a new spelling and the original's; a password and a
// password file), one given on the command line sets aside the others'
// environment variables. Two such options given in the same place are an
// error, but for the original's spellings, which give way to the new ones.
func parseGlobals(c *cli.Context) (*globals, error) {
	from := origins(c)
	g := &globals{
		cfgDir:         c.String("cfgdir"),
		statePath:      c.String("state"),
		prefix:         c.String("prefix"),
		dialTimeout:    c.Duration("dial-timeout"),
		commandTimeout: c.Duration("command-timeout"),
		cacert:         c.String(from.pick("cacert", "ssl_cafile")),
		cert:           c.String(from.pick("cert", "ssl_cert")),
		key:            c.String(from.pick("key", "ssl_key")),

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
	switch {
	case from.pick("no-color", "color") == "no-color" && c.Bool("no-color"):
		g.color = "never"
	case !c.IsSet("color") && os.Getenv("NO_COLOR") != "":
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

	// Endpoints: --endpoints, the original's --host/--port, or DNS.
	eps := defaultEndpoint
	if from["srv"] != notGiven && from["srv"] >= max(from["host"], from["port"]) {
		// The original's --srv "overrides host/port".
		delete(from, "host")
		delete(from, "port")
	}
	source, err := from.one([]string{"endpoints"}, []string{"host", "port"}, []string{"srv"}, []string{"discovery-srv"})
	if err != nil {
		return nil, err
	}
	switch source {
	case "endpoints":
		if eps = c.String("endpoints"); eps == "" {
			eps = defaultEndpoint
		}
	case "srv":
		g.srv = c.String("srv")
	case "discovery-srv":
		g.discoverySRV = c.String("discovery-srv")
	case "host":
		host, port := c.String("host"), c.String("port")
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

	// The password: in --user NAME:PASSWORD, in --password-file, or in
	// RECONFIG_PASSWORD.
	g.user = c.String("user")
	name, inline, hasInline := strings.Cut(g.user, ":")
	switch file := from["password-file"]; {
	case hasInline && from["user"] == file:
		return nil, &usageError{msg: "give the password once: --user NAME:PASSWORD or --password-file, not both"}
	case hasInline && from["user"] > file:
		g.user, g.password = name, inline
		if from["user"] == fromCommandLine {
			g.warnings = append(g.warnings, "the password given with --user NAME:PASSWORD is visible to every user of this host in the process list for as long as reconfig runs; use --password-file FILE or RECONFIG_PASSWORD")
		}
	case file != notGiven:
		if hasInline {
			g.user = name
		}
		pw, err := readSecretFile("--password-file", c.String("password-file"))
		if err != nil {
			return nil, err
		}
		g.password = pw
	default:
		g.password = os.Getenv("RECONFIG_PASSWORD")
	}

	// The client key's passphrase.
	pp := from.pick("key-passphrase", "ssl_passphrase")
	switch file := from["key-passphrase-file"]; {
	case from[pp] != notGiven && from[pp] == file:
		return nil, &usageError{msg: "give the passphrase once: --key-passphrase or --key-passphrase-file, not both"}
	case from[pp] > file:
		g.keyPassphrase = c.String(pp)
		if g.keyPassphrase != "" && from[pp] == fromCommandLine {
			g.warnings = append(g.warnings, "the passphrase given with --key-passphrase is visible to every user of this host in the process list for as long as reconfig runs; use --key-passphrase-file FILE or RECONFIG_KEY_PASSPHRASE")
		}
	case file != notGiven:
		pw, err := readSecretFile("--key-passphrase-file", c.String("key-passphrase-file"))
		if err != nil {
			return nil, err
		}
		g.keyPassphrase = pw
	}
	return g, nil
}

// origin is where a flag's value came from.
type origin int

const (
	notGiven origin = iota
	fromEnv
	fromCommandLine
)

// givenKey is the app's Metadata key holding the names of the global
// flags the command line gave (noteGiven).
const givenKey = "given"

// noteGiven records, in the app's Metadata, which global flags the command
// line args gave: after reorderArgs they all stand before the command.
func noteGiven(app *cli.App, args []string) {
	given := map[string]bool{}
	for i := 1; i < len(args) && isFlag(args[i]) && args[i] != "--"; i++ {
		f := lookupFlag(app.Flags, args[i])
		if f == nil {
			break
		}
		for _, n := range f.Names() {
			given[n] = true
		}
		if takesValue(f, args[i]) {
			i++
		}
	}
	if app.Metadata == nil {
		app.Metadata = map[string]any{}
	}
	app.Metadata[givenKey] = given
}

// flagOrigins says where each global flag came from, by each of its names.
type flagOrigins map[string]origin

func origins(c *cli.Context) flagOrigins {
	given, _ := c.App.Metadata[givenKey].(map[string]bool)
	o := flagOrigins{}
	for _, f := range c.App.Flags {
		for _, n := range f.Names() {
			switch {
			case given[n]:
				o[n] = fromCommandLine
			case c.IsSet(n):
				o[n] = fromEnv
			}
		}
	}
	return o
}

// pick returns which of names, spellings of one setting, counts: one given
// on the command line before one from the environment; of two given in the
// same place, the first. None given, it is the first.
func (o flagOrigins) pick(names ...string) string {
	best := names[0]
	for _, n := range names[1:] {
		if o[n] > o[best] {
			best = n
		}
	}
	return best
}

// one returns which of the groups of flags, alternatives that exclude
// each other, counts (the group's first name): the one given on the
// command line, else the one given in the environment, else "". Two given
// in the same place are an error.
func (o flagOrigins) one(groups ...[]string) (string, error) {
	var best origin
	var chosen [][]string
	for _, g := range groups {
		var at origin
		for _, n := range g {
			at = max(at, o[n])
		}
		switch {
		case at > best:
			best, chosen = at, [][]string{g}
		case at == best && at != notGiven:
			chosen = append(chosen, g)
		}
	}
	switch {
	case len(chosen) == 0:
		return "", nil
	case len(chosen) == 1:
		return chosen[0][0], nil
	}
	var names []string
	for _, g := range chosen {
		var spell []string
		for _, n := range g {
			if best == fromEnv {
				if e := envs(n)[0]; o[n] == fromEnv {
					spell = append(spell, e)
				}
				continue
			}
			spell = append(spell, "--"+n)
		}
		names = append(names, strings.Join(spell, "/"))
	}
	if best == fromEnv {
		last := len(names) - 1
		return "", &usageError{msg: fmt.Sprintf("%s and %s are set, and exclude each other: set only one (an option on the command line wins over them)", strings.Join(names[:last], ", "), names[last])}
	}
	if len(names) == 2 {
		return "", &usageError{msg: fmt.Sprintf("give either %s or %s, not both", names[0], names[1])}
	}
	return "", &usageError{msg: fmt.Sprintf("give only one of %s", strings.Join(names, ", "))}
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
