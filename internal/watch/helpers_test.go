package watch_test

import "github.com/reconfig/reconfig/internal/embedded"

func etcdtestOptions(clientURL string) embedded.Options {
	return embedded.Options{ClientURL: clientURL}
}
