package etcdtest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/reconfig/reconfig/testfixtures"
)

// What etcd (3.4 to 3.7) logs about simple auth tokens: the first at debug
// level, the second at debug (3.5 on) or info (3.4).
const (
	msgTokenIssued  = "authenticated a user"
	msgTokenDropped = "deleted a simple token"
)

// TokenLog is a server logger (embedded.Options.Logger) that keeps, as
// JSON lines, only what etcd says about auth tokens, for
// AwaitTokensDropped.
func TokenLog() (*zap.Logger, func() []byte) {
	buf := &testfixtures.SyncBuffer{}
	core := zapcore.NewCore(zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig()), zapcore.AddSync(buf), zap.DebugLevel)
	return zap.New(tokenCore{core}), func() []byte { return []byte(buf.String()) }
}

// tokenCore passes on only the token messages.
type tokenCore struct{ zapcore.Core }

func (c tokenCore) With(fields []zapcore.Field) zapcore.Core { return tokenCore{c.Core.With(fields)} }

func (c tokenCore) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if e.Message == msgTokenIssued || e.Message == msgTokenDropped {
		return c.Core.Check(e, ce)
	}
	return ce
}

// AwaitTokensDropped waits until etcd has dropped every auth token it
// handed to user, as its log tells: what becomes of a client's token once
// unused for the server's --auth-token-ttl. log returns the log so far,
// JSON lines from TokenLog or from an etcd binary's --log-outputs file at
// --log-level debug.
func AwaitTokensDropped(t TB, user string, log func() []byte, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		issued, dropped := countTokens(log(), user)
		if issued > 0 && dropped == issued {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("etcd dropped %d of the %d auth tokens of %s within %s", dropped, issued, user, timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func countTokens(log []byte, user string) (issued, dropped int) {
	sc := bufio.NewScanner(bytes.NewReader(log))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var e struct {
			Msg  string `json:"msg"`
			User string `json:"user-name"`
		}
		if json.Unmarshal(sc.Bytes(), &e) != nil || e.User != user {
			continue
		}
		switch e.Msg {
		case msgTokenIssued:
			issued++
		case msgTokenDropped:
			dropped++
		}
	}
	return issued, dropped
}
