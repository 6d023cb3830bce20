package route53_test

// Route 53 publishes no OpenAPI document; its API is described by the
// service model the AWS SDKs are generated from. testdata/route53-2013-04-01.json
// is the part of it acmectl uses, as published in botocore 1.43.11
// (botocore/data/route53/2013-04-01/service-2.json; testdata/SOURCE.md): the
// five operations and every shape they name, documentation strings
// removed. kin-openapi cannot read it, so this file is a small validator of
// the model's rest-xml shapes: structures (members by XML element name,
// required members, no members the model lacks), lists (element names,
// min/max), strings (enum, length, pattern), integers and longs (range),
// booleans and timestamps; query parameters by the input's querystring
// members; request paths by the operation's requestUri. Element names are
// compared without regard to case, as the SDKs' deserializers do (Route 53
// itself answers InvalidChangeBatch with <Messages> where the model names
// the member "messages"). The error envelope (<ErrorResponse><Error>) is
// the rest-xml protocol's, not the model's: it is checked here by hand, and
// its Code must be one of the operation's modelled errors or a common AWS
// error.

import (
	"cmp"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

type shapeRef struct {
	Shape        string `json:"shape"`
	Location     string `json:"location"`
	LocationName string `json:"locationName"`
	XMLNamespace *struct {
		URI string `json:"uri"`
	} `json:"xmlNamespace"`
}

type modelShape struct {
	Type      string              `json:"type"`
	Required  []string            `json:"required"`
	Members   map[string]shapeRef `json:"members"`
	Member    *shapeRef           `json:"member"`
	Enum      []string            `json:"enum"`
	Min       *float64            `json:"min"`
	Max       *float64            `json:"max"`
	Pattern   string              `json:"pattern"`
	Flattened bool                `json:"flattened"`
}

type modelOp struct {
	HTTP struct {
		Method     string `json:"method"`
		RequestURI string `json:"requestUri"`
	} `json:"http"`
	Input  shapeRef   `json:"input"`
	Output shapeRef   `json:"output"`
	Errors []shapeRef `json:"errors"`
}

// model is the committed part of the Route 53 service model.
type model struct {
	Metadata struct {
		APIVersion string `json:"apiVersion"`
	} `json:"metadata"`
	Operations map[string]modelOp     `json:"operations"`
	Shapes     map[string]*modelShape `json:"shapes"`
	patterns   map[string]*regexp.Regexp
}

func loadModel(t *testing.T) *model {
	t.Helper()
	b, err := os.ReadFile("testdata/route53-2013-04-01.json")
	if err != nil {
		t.Fatal(err)
	}
	var m model
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	m.patterns = map[string]*regexp.Regexp{}
	for name, s := range m.Shapes {
		switch s.Type {
		case "structure", "list", "string", "long", "integer", "boolean", "timestamp":
		default:
			t.Fatalf("model shape %s: type %q not validated", name, s.Type)
		}
		if s.Flattened {
			t.Fatalf("model shape %s: flattened lists not validated", name)
		}
		if s.Pattern != "" {
			re, err := regexp.Compile("^(?:" + s.Pattern + ")$")
			if err != nil {
				t.Fatalf("model shape %s: pattern: %v", name, err)
			}
			m.patterns[name] = re
		}
	}
	return &m
}

// operation checks that method and path are op's (its requestUri with
// {labels}) and returns the violations.
func (m *model) operation(op, method, path string) []string {
	o, ok := m.Operations[op]
	if !ok {
		return []string{op + ": not an operation of the model"}
	}
	want := strings.Split(o.HTTP.RequestURI, "/")
	got := strings.Split(path, "/")
	match := o.HTTP.Method == method && len(want) == len(got)
	for i := 0; match && i < len(want); i++ {
		if strings.HasPrefix(want[i], "{") {
			match = got[i] != ""
		} else {
			match = want[i] == got[i]
		}
	}
	if !match {
		return []string{fmt.Sprintf("%s %s is not %s %s (%s)", method, path, o.HTTP.Method, o.HTTP.RequestURI, op)}
	}
	return nil
}

// query checks the query parameters against the input's querystring
// members.
func (m *model) query(op string, q url.Values) []string {
	in := m.Shapes[m.Operations[op].Input.Shape]
	var out []string
	for k, vs := range q {
		var ref *shapeRef
		for _, mem := range in.Members {
			if mem.Location == "querystring" && mem.LocationName == k {
				ref = &mem
			}
		}
		if ref == nil {
			out = append(out, fmt.Sprintf("%s: query parameter %s is not in the model", op, k))
			continue
		}
		for _, v := range vs {
			out = append(out, m.value(v, ref.Shape, op+" query "+k)...)
		}
	}
	return out
}

// request checks a request body: the input's body members under the
// input's locationName, in its XML namespace.
func (m *model) request(op string, body []byte) []string {
	in := m.Operations[op].Input
	n, err := parseXML(strings.NewReader(string(body)))
	if err != nil {
		return []string{fmt.Sprintf("request %s: %v", op, err)}
	}
	var out []string
	if in.XMLNamespace != nil && n.ns != in.XMLNamespace.URI {
		out = append(out, fmt.Sprintf("request %s: namespace %q, want %q", op, n.ns, in.XMLNamespace.URI))
	}
	return append(out, m.check(n, in.Shape, in.LocationName, "request "+op)...)
}

// answer checks a response body: op's output (status 200), one of op's
// modelled errors by shape name, or the protocol's error envelope
// (what == "Error").
func (m *model) answer(op, what string, body []byte) []string {
	n, err := parseXML(strings.NewReader(string(body)))
	if err != nil {
		return []string{fmt.Sprintf("answer %s: %v", op, err)}
	}
	o := m.Operations[op]
	switch {
	case what == op:
		return m.check(n, o.Output.Shape, o.Output.Shape, "answer "+op)
	case what == "Error":
		return m.envelope(n, op)
	case slices.ContainsFunc(o.Errors, func(r shapeRef) bool { return r.Shape == what }):
		return m.check(n, what, what, "answer "+op)
	}
	return []string{fmt.Sprintf("answer %s: %s is not one of its errors", op, what)}
}

func (m *model) envelope(n *node, op string) []string {
	path := "answer " + op + "/ErrorResponse"
	if n.name != "ErrorResponse" {
		return []string{path + ": element " + n.name}
	}
	var out []string
	var code string
	for _, c := range n.children {
		switch c.name {
		case "RequestId":
		case "Error":
			for _, e := range c.children {
				switch e.name {
				case "Type":
					if t := strings.TrimSpace(e.text); t != "Sender" && t != "Receiver" {
						out = append(out, fmt.Sprintf("%s/Error/Type: %q", path, t))
					}
				case "Code":
					code = strings.TrimSpace(e.text)
				case "Message":
				default:
					out = append(out, path+"/Error: unknown element "+e.name)
				}
			}
		default:
			out = append(out, path+": unknown element "+c.name)
		}
	}
	// The error codes every AWS service may answer (the protocol's, not
	// the Route 53 model's).
	common := []string{"AccessDenied", "IncompleteSignature", "InvalidClientTokenId", "SignatureDoesNotMatch",
		"ExpiredToken", "Throttling", "ThrottlingException", "RequestExpired", "ServiceUnavailable", "InternalFailure"}
	errs := m.Operations[op].Errors
	if !slices.Contains(common, code) && !slices.ContainsFunc(errs, func(r shapeRef) bool { return r.Shape == code }) {
		out = append(out, fmt.Sprintf("%s: code %q is neither an error of %s nor a common one", path, code, op))
	}
	return out
}

// check validates element n, expected to be named elem, against shape.
func (m *model) check(n *node, shape, elem, path string) []string {
	path += "/" + elem
	if !strings.EqualFold(n.name, elem) {
		return []string{fmt.Sprintf("%s: element %s", path, n.name)}
	}
	s := m.Shapes[shape]
	switch s.Type {
	case "structure":
		var out []string
		seen := map[string]bool{}
		for _, c := range n.children {
			name := ""
			for mname, mem := range s.Members {
				if mem.Location == "" && strings.EqualFold(c.name, cmp.Or(mem.LocationName, mname)) {
					name = mname
				}
			}
			if name == "" {
				out = append(out, fmt.Sprintf("%s: member %s is not in the model", path, c.name))
				continue
			}
			if seen[name] {
				out = append(out, fmt.Sprintf("%s: member %s twice", path, c.name))
			}
			seen[name] = true
			mem := s.Members[name]
			out = append(out, m.check(c, mem.Shape, cmp.Or(mem.LocationName, name), path)...)
		}
		for _, r := range s.Required {
			if s.Members[r].Location == "" && !seen[r] {
				out = append(out, fmt.Sprintf("%s: required member %s missing", path, r))
			}
		}
		return out
	case "list":
		var out []string
		if s.Min != nil && float64(len(n.children)) < *s.Min || s.Max != nil && float64(len(n.children)) > *s.Max {
			out = append(out, fmt.Sprintf("%s: %d elements, want %v..%v", path, len(n.children), s.Min, s.Max))
		}
		for _, c := range n.children {
			out = append(out, m.check(c, s.Member.Shape, cmp.Or(s.Member.LocationName, "member"), path)...)
		}
		return out
	}
	if len(n.children) > 0 {
		return []string{path + ": elements inside a " + s.Type}
	}
	return m.value(strings.TrimSpace(n.text), shape, path)
}

// value checks the text of a scalar.
func (m *model) value(v, shape, path string) []string {
	s := m.Shapes[shape]
	bad := func(why string) []string { return []string{fmt.Sprintf("%s: %q %s", path, v, why)} }
	switch s.Type {
	case "string":
		if len(s.Enum) > 0 && !slices.Contains(s.Enum, v) {
			return bad(fmt.Sprintf("is not one of %v", s.Enum))
		}
		if s.Min != nil && float64(len(v)) < *s.Min || s.Max != nil && float64(len(v)) > *s.Max {
			return bad(fmt.Sprintf("has a length outside %v..%v", deref(s.Min), deref(s.Max)))
		}
		if re := m.patterns[shape]; re != nil && !re.MatchString(v) {
			return bad("does not match " + s.Pattern)
		}
	case "long", "integer":
		i, err := strconv.ParseInt(v, 10, 64)
		if err != nil || s.Min != nil && float64(i) < *s.Min || s.Max != nil && float64(i) > *s.Max {
			return bad(fmt.Sprintf("is not an integer in %v..%v", deref(s.Min), deref(s.Max)))
		}
	case "boolean":
		if v != "true" && v != "false" {
			return bad("is not a boolean")
		}
	case "timestamp":
		if _, err := time.Parse(time.RFC3339, v); err != nil {
			return bad("is not an ISO 8601 timestamp")
		}
	default:
		return bad("is a " + s.Type + ", not a scalar")
	}
	return nil
}

func deref(f *float64) any {
	if f == nil {
		return "-"
	}
	return *f
}

// node is a parsed XML element.
type node struct {
	name     string
	ns       string
	text     string
	children []*node
}

func parseXML(r io.Reader) (*node, error) {
	d := xml.NewDecoder(r)
	var stack []*node
	var root *node
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			n := &node{name: t.Name.Local, ns: t.Name.Space}
			if len(stack) > 0 {
				p := stack[len(stack)-1]
				p.children = append(p.children, n)
			} else {
				root = n
			}
			stack = append(stack, n)
		case xml.EndElement:
			stack = stack[:len(stack)-1]
		case xml.CharData:
			if len(stack) > 0 {
				stack[len(stack)-1].text += string(t)
			}
		}
	}
	if root == nil {
		return nil, fmt.Errorf("no XML element")
	}
	return root, nil
}
