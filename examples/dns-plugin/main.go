// Command acmectl-dns-example is a small DNS plugin for acmectl, written as
// a template for plugins in any language (the protocol is in
// docs/dns-plugins.md). It keeps TXT records in a JSON file named by
// EXAMPLE_DNS_FILE, {"name.": ["value", ...]}, which a test DNS server
// serves; a real plugin would call its provider's API instead.
//
// Build it as acmectl-dns-example and put it in /usr/local/lib/acmectl/plugins
// or PATH; then `acmectl obtain --dns-01 example ...`.
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"slices"
)

type request struct {
	ID     int             `json:"id"`
	Method string          `json:"method"`
	Params json.RawMessage `json:"params"`
}

type record struct {
	FQDN  string `json:"fqdn"`
	Value string `json:"value"`
}

func main() {
	file := os.Getenv("EXAMPLE_DNS_FILE")
	in := bufio.NewScanner(os.Stdin)
	out := json.NewEncoder(os.Stdout) // one JSON object per line
	for in.Scan() {
		var req request
		if err := json.Unmarshal(in.Bytes(), &req); err != nil {
			fmt.Fprintln(os.Stderr, "malformed request:", err)
			os.Exit(1)
		}
		result, err := handle(file, req)
		if err != nil {
			_ = out.Encode(map[string]any{"id": req.ID, "error": map[string]string{"message": err.Error()}})
			continue
		}
		_ = out.Encode(map[string]any{"id": req.ID, "result": result})
		if req.Method == "shutdown" {
			return
		}
	}
}

func handle(file string, req request) (any, error) {
	switch req.Method {
	case "hello":
		var p struct{ Protocol int }
		_ = json.Unmarshal(req.Params, &p)
		if p.Protocol != 1 {
			return nil, fmt.Errorf("protocol %d is not supported (want 1)", p.Protocol)
		}
		if file == "" {
			return nil, fmt.Errorf("EXAMPLE_DNS_FILE is not set")
		}
		return map[string]any{"protocol": 1, "name": "example", "capabilities": map[string]bool{"check": true}}, nil
	case "present", "cleanup":
		var r record
		if err := json.Unmarshal(req.Params, &r); err != nil || r.FQDN == "" || r.Value == "" {
			return nil, fmt.Errorf("want fqdn and value")
		}
		records, err := load(file)
		if err != nil {
			return nil, err
		}
		values := slices.DeleteFunc(records[r.FQDN], func(v string) bool { return v == r.Value })
		if req.Method == "present" {
			values = append(values, r.Value) // other values at the name stay
		}
		records[r.FQDN] = values
		if len(values) == 0 {
			delete(records, r.FQDN)
		}
		return struct{}{}, save(file, records)
	case "check":
		_, err := load(file)
		return struct{}{}, err
	case "shutdown":
		return struct{}{}, nil
	}
	return nil, fmt.Errorf("unknown method %q", req.Method)
}

func load(file string) (map[string][]string, error) {
	records := map[string][]string{}
	data, err := os.ReadFile(file)
	if os.IsNotExist(err) {
		return records, nil
	}
	if err != nil {
		return nil, err
	}
	if len(data) > 0 {
		err = json.Unmarshal(data, &records)
	}
	return records, err
}

// save replaces the file atomically (write a temporary file, rename).
func save(file string, records map[string][]string) error {
	data, err := json.Marshal(records)
	if err != nil {
		return err
	}
	tmp := file + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, file)
}
