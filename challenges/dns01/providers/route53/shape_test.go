package route53_test

// Route 53 publishes no OpenAPI document; its API is described by the
// Smithy model the AWS SDKs are generated from (aws/aws-sdk-go-v2
// codegen/sdk-codegen/aws-models/route-53.json; SDK module
// service/route53 v1.71.0, API version 2013-04-01). The shapes below are
// that model's input and output structures for the operations acmectl
// uses, transcribed member for member (XML element names, nesting,
// required members, enums, string length limits, integer ranges) for the
// members acmectl sends or reads; members it never sees are accepted as
// the model allows them. The fake checks every request body, query and
// answer against them.

import (
	"encoding/xml"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"
)

type kind int

const (
	kStruct kind = iota
	kList        // members[0] is the repeated element
	kString
	kEnum
	kBool
	kLong
	kTime
)

type shape struct {
	name     string
	kind     kind
	required bool
	members  []shape
	enum     []string
	max      int   // string length / list length
	lo, hi   int64 // long range when hi > 0
	open     bool  // other members exist in the model (not transcribed)
}

var (
	rrTypes = []string{"SOA", "A", "TXT", "NS", "CNAME", "MX", "NAPTR", "PTR", "SRV", "SPF", "AAAA", "CAA", "DS", "TLSA", "SSHFP", "SVCB", "HTTPS"}

	resourceRecordSet = shape{name: "ResourceRecordSet", kind: kStruct, open: true, members: []shape{
		{name: "Name", kind: kString, required: true, max: 1024},
		{name: "Type", kind: kEnum, required: true, enum: rrTypes},
		{name: "SetIdentifier", kind: kString, max: 128},
		{name: "TTL", kind: kLong, lo: 0, hi: 2147483647},
		{name: "ResourceRecords", kind: kList, members: []shape{{name: "ResourceRecord", kind: kStruct, members: []shape{
			{name: "Value", kind: kString, required: true, max: 4000},
		}}}},
	}}
	changeInfo = shape{name: "ChangeInfo", kind: kStruct, required: true, members: []shape{
		{name: "Id", kind: kString, required: true, max: 6500},
		{name: "Status", kind: kEnum, required: true, enum: []string{"PENDING", "INSYNC"}},
		{name: "SubmittedAt", kind: kTime, required: true},
		{name: "Comment", kind: kString, max: 256},
	}}
	hostedZone = shape{name: "HostedZone", kind: kStruct, members: []shape{
		{name: "Id", kind: kString, required: true, max: 32},
		{name: "Name", kind: kString, required: true, max: 1024},
		{name: "CallerReference", kind: kString, required: true, max: 128},
		{name: "Config", kind: kStruct, members: []shape{{name: "Comment", kind: kString, max: 256}, {name: "PrivateZone", kind: kBool}}},
		{name: "ResourceRecordSetCount", kind: kLong},
		{name: "LinkedService", kind: kStruct, open: true},
		{name: "Features", kind: kStruct, open: true},
	}}

	// Request bodies and answers by operation.
	changeResourceRecordSetsRequest = shape{name: "ChangeResourceRecordSetsRequest", kind: kStruct, members: []shape{
		{name: "ChangeBatch", kind: kStruct, required: true, members: []shape{
			{name: "Comment", kind: kString, max: 256},
			{name: "Changes", kind: kList, required: true, members: []shape{{name: "Change", kind: kStruct, members: []shape{
				{name: "Action", kind: kEnum, required: true, enum: []string{"CREATE", "DELETE", "UPSERT"}},
				withRequired(resourceRecordSet),
			}}}},
		}},
	}}
	answers = map[string]shape{
		"ListHostedZonesByName": {name: "ListHostedZonesByNameResponse", kind: kStruct, members: []shape{
			{name: "HostedZones", kind: kList, required: true, members: []shape{hostedZone}},
			{name: "DNSName", kind: kString, max: 1024},
			{name: "HostedZoneId", kind: kString, max: 32},
			{name: "IsTruncated", kind: kBool, required: true},
			{name: "NextDNSName", kind: kString, max: 1024},
			{name: "NextHostedZoneId", kind: kString, max: 32},
			{name: "MaxItems", kind: kLong, required: true},
		}},
		"GetHostedZone": {name: "GetHostedZoneResponse", kind: kStruct, members: []shape{
			withRequired(hostedZone),
			{name: "DelegationSet", kind: kStruct, open: true},
			{name: "VPCs", kind: kList, members: []shape{{name: "VPC", kind: kStruct, open: true}}},
		}},
		"ListResourceRecordSets": {name: "ListResourceRecordSetsResponse", kind: kStruct, members: []shape{
			{name: "ResourceRecordSets", kind: kList, required: true, members: []shape{resourceRecordSet}},
			{name: "IsTruncated", kind: kBool, required: true},
			{name: "NextRecordName", kind: kString, max: 1024},
			{name: "NextRecordType", kind: kEnum, enum: rrTypes},
			{name: "NextRecordIdentifier", kind: kString, max: 128},
			{name: "MaxItems", kind: kLong, required: true},
		}},
		"ChangeResourceRecordSets": {name: "ChangeResourceRecordSetsResponse", kind: kStruct, members: []shape{changeInfo}},
		"GetChange":                {name: "GetChangeResponse", kind: kStruct, members: []shape{changeInfo}},
		"Error": {name: "ErrorResponse", kind: kStruct, members: []shape{
			{name: "Error", kind: kStruct, required: true, members: []shape{
				{name: "Type", kind: kEnum, enum: []string{"Sender", "Receiver"}}, {name: "Code", kind: kString, required: true}, {name: "Message", kind: kString},
			}},
			{name: "RequestId", kind: kString},
		}},
		"InvalidChangeBatch": {name: "InvalidChangeBatch", kind: kStruct, members: []shape{
			{name: "messages", kind: kList, members: []shape{{name: "Message", kind: kString}}},
			{name: "Messages", kind: kList, members: []shape{{name: "Message", kind: kString}}},
			{name: "message", kind: kString},
			{name: "RequestId", kind: kString},
		}},
	}
	// Query parameters by operation (the model's httpQuery members).
	queries = map[string]map[string][]string{
		"ListHostedZonesByName":  {"dnsname": nil, "hostedzoneid": nil, "maxitems": nil},
		"ListResourceRecordSets": {"name": nil, "type": rrTypes, "identifier": nil, "maxitems": nil},
	}
)

func withRequired(s shape) shape {
	s.required = true
	return s
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

// check validates n against s and returns the violations.
func check(n *node, s shape, path string) []string {
	path += "/" + s.name
	var out []string
	if n.name != s.name {
		return []string{fmt.Sprintf("%s: element %s, want %s", path, n.name, s.name)}
	}
	text := strings.TrimSpace(n.text)
	switch s.kind {
	case kStruct:
		seen := map[string]bool{}
		for _, c := range n.children {
			i := slices.IndexFunc(s.members, func(m shape) bool { return m.name == c.name })
			if i < 0 {
				if !s.open {
					out = append(out, fmt.Sprintf("%s: unknown member %s", path, c.name))
				}
				continue
			}
			if seen[c.name] {
				out = append(out, fmt.Sprintf("%s: member %s twice", path, c.name))
			}
			seen[c.name] = true
			out = append(out, check(c, s.members[i], path)...)
		}
		for _, m := range s.members {
			if m.required && !seen[m.name] {
				out = append(out, fmt.Sprintf("%s: required member %s missing", path, m.name))
			}
		}
	case kList:
		for _, c := range n.children {
			out = append(out, check(c, s.members[0], path)...)
		}
	case kString:
		if s.max > 0 && len(text) > s.max {
			out = append(out, fmt.Sprintf("%s: longer than %d", path, s.max))
		}
	case kEnum:
		if !slices.Contains(s.enum, text) {
			out = append(out, fmt.Sprintf("%s: %q is not one of %v", path, text, s.enum))
		}
	case kBool:
		if text != "true" && text != "false" {
			out = append(out, fmt.Sprintf("%s: %q is not a boolean", path, text))
		}
	case kLong:
		v, err := strconv.ParseInt(text, 10, 64)
		if err != nil || (s.hi > 0 && (v < s.lo || v > s.hi)) {
			out = append(out, fmt.Sprintf("%s: %q is not an integer in range", path, text))
		}
	case kTime:
		if _, err := time.Parse(time.RFC3339, text); err != nil {
			out = append(out, fmt.Sprintf("%s: %q is not an ISO 8601 timestamp", path, text))
		}
	}
	return out
}
