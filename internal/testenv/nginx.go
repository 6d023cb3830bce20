package testenv

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// Nginx is a real nginx serving a webroot's /.well-known/acme-challenge/ on
// 127.0.0.1, as in shared/reference/test-servers.md §4.
type Nginx struct {
	Port    int
	Addr    string // 127.0.0.1:Port
	URL     string // http://127.0.0.1:Port
	Dir     string // prefix directory: nginx.conf, error.log, access.log
	Process *Process
}

// StartNginx runs nginx in the foreground serving
// webroot/.well-known/acme-challenge/ (as text/plain) on 127.0.0.1:port, and
// 404 for everything else. Port 0 picks a free port. It returns once nginx
// answers 404 on /, and stops it at cleanup. Skipped (or failed under
// ACMECTL_REQUIRE_SERVERS=1) when nginx is not installed.
//
// Run as root, nginx's workers would run as nobody and get 403 on a webroot
// under a 0700 t.TempDir(), so the config then says `user root;`.
func StartNginx(t testing.TB, webroot string, port int) *Nginx {
	t.Helper()
	bin := LookTool(t, "nginx", "apt-get install nginx")
	if port == 0 {
		port = FreePort(t)
	}
	abs, err := filepath.Abs(webroot)
	if err != nil {
		t.Fatalf("testenv: nginx webroot: %v", err)
	}
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "tmp"), 0o755); err != nil {
		t.Fatalf("testenv: nginx: %v", err)
	}
	user := ""
	if os.Geteuid() == 0 {
		user = "user root;\n"
	}
	conf := fmt.Sprintf(`%sworker_processes 1;
daemon off;
pid %[2]s/nginx.pid;
error_log %[2]s/error.log;
events { worker_connections 64; }
http {
    access_log %[2]s/access.log;
    client_body_temp_path %[2]s/tmp/body;
    proxy_temp_path       %[2]s/tmp/proxy;
    fastcgi_temp_path     %[2]s/tmp/fastcgi;
    uwsgi_temp_path       %[2]s/tmp/uwsgi;
    scgi_temp_path        %[2]s/tmp/scgi;
    server_tokens off;
    server {
        listen 127.0.0.1:%[3]d;
        location /.well-known/acme-challenge/ { root %[4]s; default_type text/plain; }
        location / { return 404; }
    }
}
`, user, dir, port, strconv.Quote(abs))
	confPath := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		t.Fatalf("testenv: nginx: %v", err)
	}
	errLog := filepath.Join(dir, "error.log")
	proc := Start(t, "nginx", exec.Command(bin, "-p", dir, "-e", errLog, "-c", confPath))
	n := &Nginx{
		Port:    port,
		Addr:    "127.0.0.1:" + strconv.Itoa(port),
		Dir:     dir,
		Process: proc,
	}
	n.URL = "http://" + n.Addr
	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	WaitFor(t, "nginx on "+n.Addr, 10*time.Second, func() error {
		resp, err := client.Get(n.URL + "/")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound || resp.Header.Get("Server") != "nginx" {
			return fmt.Errorf("GET / = %d from %q, want 404 from nginx (another server on the port?)",
				resp.StatusCode, resp.Header.Get("Server"))
		}
		return nil
	})
	return n
}
