package client

// newV1 is replaced by the legacy dialect in v1.go.
func (c *Client) newV1(dir *Directory) (dialect, error) {
	return nil, &UnsupportedError{Feature: "legacy ACME v1", Dialect: DialectV1, Detail: "not built in"}
}
