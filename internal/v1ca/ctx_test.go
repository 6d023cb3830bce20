package v1ca

import (
	"context"
	"time"
)

func context5s() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), 5*time.Second)
}
