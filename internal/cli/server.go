package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/trawlhq/trawl/internal/app"
	"github.com/trawlhq/trawl/internal/client"
)

// How the CLI finds what it works on, first match wins:
//  1. --server URL (or TRAWL_SERVER): that server's API.
//  2. --data-dir DIR (or TRAWL_DATA_DIR): the server holding DIR, if one
//     runs (a server still starting is waited for), else DIR itself.
//  3. the server saved by `trawl login`.
//  4. ./trawl-data, as in 2.
//
// Only commands that set a directory up (serve, demo, collect, connector
// add; connector external-id and token create when the directory is named)
// create one; every other command refuses a directory that was never set
// up, rather than quietly making a second, empty one beside the server's
// (the walkthrough's external ID then came from the wrong place). With an
// external catalog (--catalog) a new directory is a cache and is made.

// serverWait bounds how long a command waits for a server that holds its
// data directory but does not answer yet (it is starting).
const serverWait = 30 * time.Second

// serverOnlyFlags are settings of the process that opens the data
// directory. A command that runs through a server cannot apply them: the
// server's own settings rule, so giving one there is refused, not ignored.
var serverOnlyFlags = []string{"master-key-file", "max-decompressed", "max-ratio", "allow-net", "deny-private", "allow-folder",
	"lake", "lake-endpoint", "lake-region", "lake-path-style", "node", "catalog", "aws-principal", "dns-server",
	"digest-max-size", "digest-max-decompressed", "digest-max-files", "rule-lookback"}

// noteFlags records which flags the user gave: the data directory, and
// the server-only ones (refused when the command goes through a server).
func (g *globals) noteFlags(fs *flag.FlagSet) {
	g.serverFlags = nil
	fs.Visit(func(f *flag.Flag) {
		if f.Name == "data-dir" {
			g.dataDirGiven = true
		}
		for _, s := range serverOnlyFlags {
			if f.Name == s {
				g.serverFlags = append(g.serverFlags, "--"+s)
			}
		}
	})
}

// refuseServerFlags explains that the server-only flags given do not
// apply through a server, and where they belong.
func (g *globals) refuseServerFlags(base string) error {
	if len(g.serverFlags) == 0 {
		return nil
	}
	sort.Strings(g.serverFlags)
	return usageErr("%s %s a setting of the process that opens the data directory, and this command runs through the server at %s, "+
		"which uses its own: give %s to `trawl serve` (and restart it), or stop the server to run this command on the directory itself",
		strings.Join(g.serverFlags, ", "), isAre(len(g.serverFlags)), base, itThem(len(g.serverFlags)))
}

func isAre(n int) string {
	if n == 1 {
		return "is"
	}
	return "are"
}

func itThem(n int) string {
	if n == 1 {
		return "it"
	}
	return "them"
}

// login is what `trawl login` keeps in the user's configuration file.
type login struct {
	Server string `json:"server"`
	Token  string `json:"token"`
}

// loginFile is the per-user file `trawl login` writes (mode 0600), like
// kubectl's and the AWS CLI's.
func loginFile() (string, error) {
	if f := os.Getenv("TRAWL_CONFIG"); f != "" {
		return f, nil
	}
	dir, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("no configuration directory for trawl login (set HOME or XDG_CONFIG_HOME, or TRAWL_CONFIG): %w", err)
	}
	return filepath.Join(dir, "trawl", "config.json"), nil
}

func readLogin() (*login, error) {
	f, err := loginFile()
	if err != nil {
		return nil, nil
	}
	b, err := os.ReadFile(f)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s (written by trawl login): %w", f, err)
	}
	var l login
	if err := json.Unmarshal(b, &l); err != nil || l.Server == "" {
		return nil, fmt.Errorf("%s (written by trawl login) is not a login: run trawl login again, or delete it", f)
	}
	return &l, nil
}

// cmdLogin keeps a server and its token for later commands; logout
// forgets them.
func cmdLogin(ctx context.Context, g *globals, args []string, out bool) error {
	f, err := loginFile()
	if err != nil {
		return err
	}
	if out {
		if err := os.Remove(f); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("logout: %w", err)
		}
		fmt.Fprintf(g.stdout, "logged out: commands use --server, --data-dir or ./trawl-data again (%s removed)\n", f)
		return nil
	}
	fs := newFlags(g, "login")
	tokenFile := fs.String("token-file", "", "file holding the API token (root or a tenant's, from `trawl token create`)")
	if _, err := parse(g, fs, args); err != nil {
		return err
	}
	if g.server == "" || *tokenFile == "" {
		return usageErr("login needs --server URL and --token-file FILE, e.g. trawl login --server http://10.0.0.11:8080 --token-file ~/trawl.token")
	}
	tok, err := os.ReadFile(*tokenFile)
	if err != nil {
		return fmt.Errorf("--token-file: %w", err)
	}
	l := login{Server: strings.TrimRight(g.server, "/"), Token: strings.TrimSpace(string(tok))}
	c := client.New(l.Server, l.Token)
	if !client.Healthy(ctx, l.Server) {
		return fmt.Errorf("no Trawl server answers at %s: check the URL (scheme, host and port of `trawl serve --addr`)", l.Server)
	}
	if _, err := c.ListConnectors(ctx, ""); err != nil {
		return fmt.Errorf("the server at %s refused the token in %s: %w", l.Server, *tokenFile, err)
	}
	if err := os.MkdirAll(filepath.Dir(f), 0o700); err != nil {
		return fmt.Errorf("login: %w", err)
	}
	b, _ := json.MarshalIndent(l, "", "  ")
	if err := os.WriteFile(f, append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("login: %w", err)
	}
	fmt.Fprintf(g.stdout, "logged in to %s; commands without --server or --data-dir now go there (saved in %s; trawl logout forgets it)\n", l.Server, f)
	return nil
}

// setUp reports whether dir holds a data directory that was set up: a
// catalog file or a binding to an external catalog.
func setUp(dir string) bool {
	for _, f := range []string{app.DBFile, "catalog.id"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err == nil {
			return true
		}
	}
	return false
}

// runningServer returns the base URL of a healthy server holding dir.
func runningServer(ctx context.Context, dir string) string {
	b, err := os.ReadFile(filepath.Join(dir, serverFile))
	if err != nil {
		return ""
	}
	var si serverInfo
	if json.Unmarshal(b, &si) != nil || si.Addr == "" {
		return ""
	}
	base := "http://" + si.Addr
	if client.Healthy(ctx, base) {
		return base
	}
	return ""
}

// waitForServer waits up to serverWait for a server starting in dir to
// answer, saying so once on stderr.
func (g *globals) waitForServer(ctx context.Context, why string) (string, error) {
	fmt.Fprintf(g.stderr, "trawl: %s; waiting up to %s for it to answer\n", why, serverWait)
	ctx, cancel := context.WithTimeout(ctx, serverWait)
	defer cancel()
	t := time.NewTicker(200 * time.Millisecond)
	defer t.Stop()
	for {
		if base := runningServer(ctx, g.dataDir); base != "" {
			return base, nil
		}
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("%s, and no server answered within %s: wait for it, or stop it (its address is in %s)",
				why, serverWait, filepath.Join(g.dataDir, serverFile))
		case <-t.C:
		}
	}
}

// awaitSetUp waits briefly for a directory that is not set up to become
// so (or for a server to answer in it): 2 seconds when it does not exist
// yet, 5 when a process has begun to fill it (a master key or a lock, but
// no catalog yet), not at all when it exists empty: nothing is starting
// there.
func (g *globals) awaitSetUp(ctx context.Context) (base string, ok bool) {
	wait := 2 * time.Second
	if entries, err := os.ReadDir(g.dataDir); err == nil {
		if len(entries) == 0 {
			return "", false
		}
		wait = 5 * time.Second
	}
	deadline := time.Now().Add(wait)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		if base := runningServer(ctx, g.dataDir); base != "" {
			return base, true
		}
		if setUp(g.dataDir) {
			return "", true
		}
		time.Sleep(100 * time.Millisecond)
	}
	return "", false
}

// noDataDir is the error of a command given no server and no data
// directory that was set up.
func (g *globals) noDataDir() error {
	abs, _ := filepath.Abs(g.dataDir)
	return fmt.Errorf("no Trawl data directory at %s and no server to talk to: pass --data-dir DIR (or set TRAWL_DATA_DIR) to the directory `trawl serve` uses, "+
		"or --server URL (or TRAWL_SERVER, or `trawl login --server URL --token-file FILE`) for a server elsewhere; "+
		"`trawl connector add` or `trawl serve` sets a new directory up", abs)
}

// openDir opens the data directory itself, or the server holding it.
func openDir(ctx context.Context, g *globals) (backend, error) {
	if base := runningServer(ctx, g.dataDir); base != "" {
		return remote(g, base)
	}
	if !setUp(g.dataDir) && !g.mayCreate {
		// A server may be setting the directory up this moment: the
		// walkthrough starts `trawl serve &` and runs the next command at
		// once. Give it a moment before calling the directory missing, or
		// setting it up here (a named one for external-id and token
		// create; with an external catalog, where a directory is a cache).
		base, ok := g.awaitSetUp(ctx)
		if base != "" {
			return remote(g, base)
		}
		if !ok && !(g.setUpNamed && g.dataDirGiven) && g.catalog == "" {
			return nil, g.noDataDir()
		}
	}
	b, err := serveInProcess(ctx, g)
	if errors.Is(err, app.ErrLocked) {
		base, werr := g.waitForServer(ctx, fmt.Sprintf("a `trawl serve` holds %s", g.dataDir))
		if werr != nil {
			return nil, fmt.Errorf("%w: %w", err, werr)
		}
		return remote(g, base)
	}
	return b, err
}
