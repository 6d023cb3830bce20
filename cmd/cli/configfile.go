package cli

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// fileConfig is the parsed config file: a YAML mapping whose keys are
// case-insensitive (lower-cased at every level when read). It replaced
// viper, whose dependencies (TOML, dotenv, fsnotify, afero, cast with
// html/template, mapstructure) made up 0.8 MB of a binary that every run
// maps (docs/dev/performance.md); acmectl only ever read one YAML file.
// The getters convert scalars the way the config file always has: a
// number or boolean where a string is wanted is its text, a scalar where
// a list is wanted is a list of one.
type fileConfig struct {
	m map[string]any
}

// parse reads data; an empty document is an empty config.
func (f *fileConfig) parse(data []byte) error {
	var m map[string]any
	if err := yaml.Unmarshal(data, &m); err != nil {
		return err
	}
	f.m = lowerKeys(m)
	return nil
}

// lowerKeys lower-cases the keys of m and of every mapping inside it
// (also inside lists); mappings with non-string keys get their keys'
// text.
func lowerKeys(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[strings.ToLower(k)] = lowerVal(v)
	}
	return out
}

func lowerVal(v any) any {
	switch v := v.(type) {
	case map[string]any:
		return lowerKeys(v)
	case map[any]any:
		m := make(map[string]any, len(v))
		for k, x := range v {
			m[fmt.Sprint(k)] = x
		}
		return lowerKeys(m)
	case []any:
		out := make([]any, len(v))
		for i, x := range v {
			out[i] = lowerVal(x)
		}
		return out
	}
	return v
}

// Get returns key's value (nil if absent).
func (f *fileConfig) Get(key string) any {
	return f.m[strings.ToLower(key)]
}

// IsSet reports whether key has a non-null value.
func (f *fileConfig) IsSet(key string) bool { return f.Get(key) != nil }

// Keys returns the top-level keys, sorted.
func (f *fileConfig) Keys() []string {
	keys := make([]string, 0, len(f.m))
	for k := range f.m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// GetString returns key's scalar value as text ("" if absent or not a
// scalar).
func (f *fileConfig) GetString(key string) string {
	s, _ := scalarString(f.Get(key))
	return s
}

func scalarString(v any) (string, bool) {
	switch v := v.(type) {
	case string:
		return v, true
	case bool:
		return strconv.FormatBool(v), true
	case int:
		return strconv.Itoa(v), true
	case int64:
		return strconv.FormatInt(v, 10), true
	case uint64:
		return strconv.FormatUint(v, 10), true
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64), true
	}
	return "", false
}

// GetBool returns key's value as a boolean: true, false, a number (not
// zero is true) or a string strconv.ParseBool accepts; anything else is
// false.
func (f *fileConfig) GetBool(key string) bool {
	switch v := f.Get(key).(type) {
	case bool:
		return v
	case int:
		return v != 0
	case int64:
		return v != 0
	case uint64:
		return v != 0
	case float64:
		return v != 0
	case string:
		b, _ := strconv.ParseBool(v)
		return b
	}
	return false
}

// GetStringSlice returns key's list with every scalar as text, a scalar
// as a list of one, and nil otherwise.
func (f *fileConfig) GetStringSlice(key string) []string {
	switch v := f.Get(key).(type) {
	case []any:
		out := make([]string, 0, len(v))
		for _, x := range v {
			if s, ok := scalarString(x); ok {
				out = append(out, s)
			} else if x != nil {
				return nil
			} else {
				out = append(out, "")
			}
		}
		return out
	default:
		if s, ok := scalarString(v); ok {
			return []string{s}
		}
	}
	return nil
}

// GetStringMap returns key's mapping (nil if absent or not a mapping).
func (f *fileConfig) GetStringMap(key string) map[string]any {
	m, _ := f.Get(key).(map[string]any)
	return m
}
