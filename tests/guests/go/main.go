// A test guest built by Go's own toolchain (GOOS=wasip1 GOARCH=wasm), the
// way most Go programs reach WASI. Each subcommand checks one thing a Go
// program relies on:
//
//	json DEPTH      encode and decode DEPTH nested objects (deep recursion)
//	files DIR       write, read back and list a file in DIR
//	env NAME...     print NAME=value for each NAME ("NAME unset" if unset)
//	exit CODE       exit with CODE
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
)

func main() {
	if len(os.Args) < 2 {
		fail("usage: go-probe json DEPTH | files DIR | env NAME... | exit CODE")
	}
	switch os.Args[1] {
	case "json":
		jsonRoundTrip(number(2))
	case "files":
		files(arg(2))
	case "env":
		for _, name := range os.Args[2:] {
			if v, ok := os.LookupEnv(name); ok {
				fmt.Printf("%s=%s\n", name, v)
			} else {
				fmt.Printf("%s unset\n", name)
			}
		}
	case "exit":
		os.Exit(number(2))
	default:
		fail("unknown command " + os.Args[1])
	}
}

func jsonRoundTrip(depth int) {
	var v any = "leaf"
	for i := 0; i < depth; i++ {
		v = map[string]any{"d": []any{v}}
	}
	encoded, err := json.Marshal(v)
	if err != nil {
		fail("encode: " + err.Error())
	}
	var decoded any
	if err := json.Unmarshal(encoded, &decoded); err != nil {
		fail("decode: " + err.Error())
	}
	levels := 0
	for {
		m, ok := decoded.(map[string]any)
		if !ok {
			break
		}
		decoded = m["d"].([]any)[0]
		levels++
	}
	fmt.Printf("json ok: %d levels, %d bytes, leaf %v\n", levels, len(encoded), decoded)
}

func files(dir string) {
	path := filepath.Join(dir, "from-go.txt")
	if err := os.WriteFile(path, []byte("written by Go\n"), 0o644); err != nil {
		fail("write: " + err.Error())
	}
	back, err := os.ReadFile(path)
	if err != nil {
		fail("read: " + err.Error())
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		fail("list: " + err.Error())
	}
	names := []string{}
	for _, e := range entries {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	fmt.Printf("read back: %s", back)
	fmt.Printf("entries: %v\n", names)
}

func arg(i int) string {
	if len(os.Args) <= i {
		fail("missing argument")
	}
	return os.Args[i]
}

func number(i int) int {
	n, err := strconv.Atoi(arg(i))
	if err != nil {
		fail("not a number: " + arg(i))
	}
	return n
}

func fail(message string) {
	fmt.Fprintln(os.Stderr, "go-probe:", message)
	os.Exit(2)
}
