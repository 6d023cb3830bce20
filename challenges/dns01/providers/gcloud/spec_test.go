package gcloud_test

import (
	"encoding/json"
	"os"
	"testing"

	"github.com/acmectl/acmectl/challenges/dns01/providers/providertest"
)

// openAPI3 converts the committed part of Google's discovery document
// dns:v1 (testdata/dns-v1.json; testdata/SOURCE.md says which) into an
// OpenAPI 3 document for the kin-openapi validator of
// providertest.StartFake, and returns its path. The conversion is
// mechanical: each method becomes an operation at "/" + its path, its
// parameters path or query parameters (repeated ones arrays), its
// "request" the request body and its "response" the 200 answer; each
// schema a component with the same properties, types, enums and readOnly
// marks. Formats kin-openapi does not know become what discovery means by
// them (uint64 and int64 strings: decimal digits; uint32: a non-negative
// integer). Our one addition: objects allow no properties the document
// does not name, so neither the client nor the fake may send one. A
// schema keyword the conversion does not know fails the test.
func openAPI3(t *testing.T, file string) string {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Resources map[string]struct {
			Methods map[string]struct {
				ID          string                    `json:"id"`
				Path        string                    `json:"path"`
				HTTPMethod  string                    `json:"httpMethod"`
				Description string                    `json:"description"`
				Parameters  map[string]map[string]any `json:"parameters"`
				Request     map[string]any            `json:"request"`
				Response    map[string]any            `json:"response"`
			} `json:"methods"`
		} `json:"resources"`
		Schemas map[string]map[string]any `json:"schemas"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	c := &discoveryConverter{t: t, file: file}
	schemas := map[string]any{}
	for name, s := range doc.Schemas {
		schemas[name] = c.schema(s)
	}
	paths := map[string]map[string]any{}
	for _, r := range doc.Resources {
		for _, m := range r.Methods {
			var params []any
			for name, p := range m.Parameters {
				in, _ := p["location"].(string)
				if in != "path" && in != "query" {
					t.Fatalf("%s: %s: parameter %s in %q not converted", file, m.ID, name, in)
				}
				required, _ := p["required"].(bool)
				s := map[string]any{}
				for k, v := range p {
					if k != "location" && k != "required" && k != "repeated" {
						s[k] = v
					}
				}
				schema := c.schema(s)
				if repeated, _ := p["repeated"].(bool); repeated {
					schema = map[string]any{"type": "array", "items": schema}
				}
				params = append(params, map[string]any{"name": name, "in": in, "required": required || in == "path", "schema": schema})
			}
			op := map[string]any{"operationId": m.ID, "description": m.Description}
			if len(params) > 0 {
				op["parameters"] = params
			}
			if m.Request != nil {
				op["requestBody"] = map[string]any{"required": true, "content": map[string]any{"application/json": map[string]any{"schema": c.schema(m.Request)}}}
			}
			ok := map[string]any{"description": "Successful response"}
			if m.Response != nil {
				ok["content"] = map[string]any{"application/json": map[string]any{"schema": c.schema(m.Response)}}
			}
			op["responses"] = map[string]any{"200": ok}
			if paths["/"+m.Path] == nil {
				paths["/"+m.Path] = map[string]any{}
			}
			paths["/"+m.Path][map[string]string{"GET": "get", "POST": "post", "PUT": "put", "PATCH": "patch", "DELETE": "delete"}[m.HTTPMethod]] = op
		}
	}
	return providertest.ConvertedSpec(t, "dns-v1.openapi3.json", "Cloud DNS API (converted from discovery dns:v1)", "v1", paths, schemas)
}

type discoveryConverter struct {
	t    *testing.T
	file string
}

// schema converts one discovery JSON schema.
func (c *discoveryConverter) schema(s map[string]any) map[string]any {
	c.t.Helper()
	out := map[string]any{}
	for k, v := range s {
		switch k {
		case "$ref":
			return map[string]any{"$ref": "#/components/schemas/" + v.(string)}
		case "type", "enum", "readOnly":
			out[k] = v
		case "format":
			switch v {
			case "int32", "double", "float":
				out[k] = v
			case "uint32":
				out["minimum"] = 0
			case "uint64":
				out["pattern"] = "^[0-9]+$"
			case "int64":
				out["pattern"] = "^-?[0-9]+$"
			default:
				c.t.Fatalf("%s: format %q not converted", c.file, v)
			}
		case "items", "additionalProperties":
			out[k] = c.schema(v.(map[string]any))
		case "properties":
			props := map[string]any{}
			for name, p := range v.(map[string]any) {
				props[name] = c.schema(p.(map[string]any))
			}
			out[k] = props
		case "id", "description", "enumDescriptions", "default", "deprecated", "enumDeprecated", "annotations":
			// documentation; defaults are the server's business
		default:
			c.t.Fatalf("%s: schema keyword %q not converted", c.file, k)
		}
	}
	if _, ok := out["properties"]; ok {
		if _, ok := out["additionalProperties"]; !ok {
			out["additionalProperties"] = false
		}
	}
	return out
}
