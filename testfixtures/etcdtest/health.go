package etcdtest

import (
	"net/http"
	"runtime"
	"time"
)

func healthy(clientURL string) bool {
	c := http.Client{Timeout: time.Second}
	resp, err := c.Get(clientURL + "/health")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

func runtimeArch() string { return runtime.GOARCH }
