package plugin

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

const (
	hostModeEnv   = "TSW_PLUGIN_TEST_HOST"         // "path sha256": run as a plugin host
	noDeathSigEnv = "TSW_PLUGIN_TEST_NO_PDEATHSIG" // host leaves the plugin to its watchdog
)

// runHost is the test binary acting as a bare host: it launches the plugin,
// prints the plugin's pid and waits to be killed.
func runHost() {
	path, sum, _ := strings.Cut(os.Getenv(hostModeEnv), " ")
	if os.Getenv(noDeathSigEnv) != "" {
		procAttr = func(*exec.Cmd) {}
	}
	c, err := Launch(context.Background(), Options{Path: path, SHA256: sum})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	fmt.Println(c.pid())
	select {}
}

// pid is the running plugin's process id, 0 if none.
func (c *Client) pid() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen == nil {
		return 0
	}
	return c.gen.pid
}

// alive reports whether pid is a live process: running and not a zombie
// waiting for a parent that may never reap it (a container's init).
func alive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	// The state follows the parenthesized command name.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || (s[i+2] != 'Z' && s[i+2] != 'X')
}

// kill ends pid at once (SIGKILL on Unix), giving it no chance to clean up.
func kill(pid int) error {
	p, err := os.FindProcess(pid)
	if err != nil {
		return err
	}
	return p.Kill()
}

// waitGone waits up to limit for pid to disappear.
func waitGone(t *testing.T, pid int, limit time.Duration) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for alive(pid) {
		if time.Now().After(deadline) {
			t.Fatalf("plugin process %d still alive after %s", pid, limit)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestHostKilled kills a host with SIGKILL, which leaves it no chance to
// stop its plugin, and checks the plugin does not outlive it: once with the
// parent-death signal (Linux) and once with only the plugin's watchdog.
func TestHostKilled(t *testing.T) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("needs /proc to watch the plugin process")
	}
	for _, tc := range []struct {
		name string
		env  []string
	}{
		{"pdeathsig and watchdog", nil},
		{"watchdog only", []string{noDeathSigEnv + "=1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^$")
			cmd.Env = append(append(os.Environ(), hostModeEnv+"="+pluginPath+" "+pluginSum), tc.env...)
			cmd.Stderr = os.Stderr
			out, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			line, err := bufio.NewReader(out).ReadString('\n')
			if err != nil {
				cmd.Process.Kill()
				cmd.Wait()
				t.Fatalf("host did not report its plugin: %v", err)
			}
			pid, err := strconv.Atoi(strings.TrimSpace(line))
			if err != nil || pid <= 0 {
				t.Fatalf("host printed %q, want the plugin pid", line)
			}
			if !alive(pid) {
				t.Fatalf("plugin %d not running while its host is", pid)
			}
			if err := cmd.Process.Kill(); err != nil { // SIGKILL
				t.Fatal(err)
			}
			cmd.Wait()
			// Pdeathsig acts at once; the watchdog polls every second.
			// The bound only keeps a failing test from hanging.
			waitGone(t, pid, 15*time.Second)
		})
	}
}
