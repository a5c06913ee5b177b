package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"

	"gopkg.in/yaml.v3"
)

// runConfig is a -config file: YAML whose keys are `loadtest run` flag names and whose values
// are what the flag would be given (a list for a repeatable flag such as server-env). The
// command line wins over the file.
type runConfig map[string]any

// readConfig reads a -config file (nil when path is empty). Unknown keys are found by apply,
// once the flags exist.
func readConfig(path string) (runConfig, error) {
	if path == "" {
		return nil, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("-config: %w", err)
	}
	var c runConfig
	dec := yaml.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&c); err != nil && !errors.Is(err, io.EOF) { // io.EOF: an empty file
		return nil, fmt.Errorf("-config %s: %w", path, err)
	}
	return c, nil
}

// str returns key's value as a flag would take it ("" when absent or not a scalar).
func (c runConfig) str(key string) string {
	v, ok := c[key]
	if !ok {
		return ""
	}
	if _, list := v.([]any); list {
		return ""
	}
	return fmt.Sprint(v)
}

// apply sets fs's flags from the file, in key order. "config" itself and keys that are no flag
// are bad input, as is a nested map.
func (c runConfig) apply(fs *flag.FlagSet, path string) error {
	keys := make([]string, 0, len(c))
	for k := range c {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if k == "config" || fs.Lookup(k) == nil {
			return fmt.Errorf("-config %s: unknown key %q (keys are the flag names of loadtest run -h)", path, k)
		}
		var values []any
		switch v := c[k].(type) {
		case []any:
			values = v
		case runConfig, map[string]any, map[any]any: // yaml.v3 decodes a nested map as the outer type
			return fmt.Errorf("-config %s: %s: want a value or a list, got a map", path, k)
		default:
			values = []any{v}
		}
		for _, v := range values {
			if err := fs.Set(k, fmt.Sprint(v)); err != nil {
				return fmt.Errorf("-config %s: %s: %w", path, k, err)
			}
		}
	}
	return nil
}
