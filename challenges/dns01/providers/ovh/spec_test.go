package ovh_test

import (
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/acmectl/acmectl/challenges/dns01/providers/providertest"
)

// ovhSchema is OVH's own API description format (the published
// https://eu.api.ovh.com/1.0/ROOT.json; testdata/SOURCE.md says which
// copy is committed).
type ovhSchema struct {
	APIVersion string `json:"apiVersion"`
	BasePath   string `json:"basePath"`
	APIs       []struct {
		Path       string `json:"path"`
		Operations []struct {
			HTTPMethod   string `json:"httpMethod"`
			Description  string `json:"description"`
			ResponseType string `json:"responseType"`
			Parameters   []struct {
				Name      string `json:"name"`
				DataType  string `json:"dataType"`
				ParamType string `json:"paramType"`
				Required  bool   `json:"required"`
			} `json:"parameters"`
		} `json:"operations"`
	} `json:"apis"`
	Models map[string]struct {
		Enum       []string `json:"enum"`
		EnumType   string   `json:"enumType"`
		Properties map[string]struct {
			Type      string `json:"type"`
			CanBeNull bool   `json:"canBeNull"`
			ReadOnly  bool   `json:"readOnly"`
			Required  bool   `json:"required"`
		} `json:"properties"`
	} `json:"models"`
}

// openAPI3 converts OVH's schema documents (testdata/domain.json and
// auth.json, cut from the published ones) into one OpenAPI 3 document for
// the kin-openapi validator of providertest.StartFake, and returns its
// path. The conversion is mechanical: "apis" become paths (path and query
// parameters as such; an unnamed body parameter is the request body, named
// ones its properties), "responseType" the 200 answer ("void": no body),
// "models" components (enums as string enums; objects with their
// properties, canBeNull as nullable, required and readOnly as such). Our
// one addition: objects allow no other properties, so neither the client
// nor the fake may send a field the document does not name. A type the
// conversion does not know fails the test instead of validating nothing.
func openAPI3(t *testing.T, files ...string) string {
	t.Helper()
	paths := map[string]any{}
	schemas := map[string]any{}
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		var doc ovhSchema
		if err := json.Unmarshal(b, &doc); err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		conv := &ovhConverter{t: t, file: file, models: map[string]bool{}}
		for name := range doc.Models {
			conv.models[name] = true
		}
		for name, m := range doc.Models {
			if len(m.Enum) > 0 {
				schemas[name] = map[string]any{"type": conv.schema(m.EnumType)["type"], "enum": m.Enum}
				continue
			}
			props := map[string]any{}
			var required []string
			for pname, p := range m.Properties {
				s := conv.schema(p.Type)
				if _, ref := s["$ref"]; ref && (p.CanBeNull || p.ReadOnly) {
					s = map[string]any{"allOf": []any{s}}
				}
				if p.CanBeNull {
					s["nullable"] = true
				}
				if p.ReadOnly {
					s["readOnly"] = true
				}
				props[pname] = s
				if p.Required {
					required = append(required, pname)
				}
			}
			obj := map[string]any{"type": "object", "properties": props, "additionalProperties": false}
			if len(required) > 0 {
				obj["required"] = required
			}
			schemas[name] = obj
		}
		for _, api := range doc.APIs {
			item, _ := paths[api.Path].(map[string]any)
			if item == nil {
				item = map[string]any{}
				paths[api.Path] = item
			}
			for _, op := range api.Operations {
				var params []any
				body := map[string]any{}
				var bodyRequired []string
				var unnamedBody map[string]any
				for _, p := range op.Parameters {
					switch p.ParamType {
					case "path", "query":
						params = append(params, map[string]any{"name": p.Name, "in": p.ParamType,
							"required": p.Required || p.ParamType == "path", "schema": conv.schema(p.DataType)})
					case "body":
						if p.Name == "" {
							unnamedBody = conv.schema(p.DataType)
							continue
						}
						body[p.Name] = conv.schema(p.DataType)
						if p.Required {
							bodyRequired = append(bodyRequired, p.Name)
						}
					default:
						t.Fatalf("%s: %s %s: parameter place %q not converted", file, op.HTTPMethod, api.Path, p.ParamType)
					}
				}
				o := map[string]any{"description": op.Description}
				if len(params) > 0 {
					o["parameters"] = params
				}
				switch {
				case unnamedBody != nil:
					o["requestBody"] = map[string]any{"required": true, "content": map[string]any{"application/json": map[string]any{"schema": unnamedBody}}}
				case len(body) > 0:
					s := map[string]any{"type": "object", "properties": body, "additionalProperties": false}
					if len(bodyRequired) > 0 {
						s["required"] = bodyRequired
					}
					o["requestBody"] = map[string]any{"required": len(bodyRequired) > 0, "content": map[string]any{"application/json": map[string]any{"schema": s}}}
				}
				ok := map[string]any{"description": op.ResponseType}
				if op.ResponseType != "void" {
					ok["content"] = map[string]any{"application/json": map[string]any{"schema": conv.schema(op.ResponseType)}}
				}
				o["responses"] = map[string]any{"200": ok}
				item[strings.ToLower(op.HTTPMethod)] = o
			}
		}
	}
	return providertest.ConvertedSpec(t, "ovh.openapi3.json", "OVHcloud API (converted from its schema documents)", "1.0", paths, schemas)
}

type ovhConverter struct {
	t      *testing.T
	file   string
	models map[string]bool
}

// schema maps one of OVH's type names to an OpenAPI schema.
func (c *ovhConverter) schema(typ string) map[string]any {
	c.t.Helper()
	if elem, ok := strings.CutSuffix(typ, "[]"); ok {
		return map[string]any{"type": "array", "items": c.schema(elem)}
	}
	if elem, ok := strings.CutPrefix(typ, "[]"); ok { // inside map[string][]T
		return map[string]any{"type": "array", "items": c.schema(elem)}
	}
	if elem, ok := strings.CutPrefix(typ, "map[string]"); ok {
		return map[string]any{"type": "object", "additionalProperties": c.schema(elem)}
	}
	switch typ {
	case "string", "password", "text":
		return map[string]any{"type": "string"}
	case "long":
		return map[string]any{"type": "integer", "format": "int64"}
	case "int":
		return map[string]any{"type": "integer", "format": "int32"}
	case "boolean":
		return map[string]any{"type": "boolean"}
	case "double":
		return map[string]any{"type": "number"}
	case "datetime", "date", "time":
		return map[string]any{"type": "string"}
	}
	if c.models[typ] {
		return map[string]any{"$ref": "#/components/schemas/" + typ}
	}
	c.t.Fatalf("%s: OVH type %q not converted", c.file, typ)
	return nil
}
