package etcd_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	mrand "math/rand/v2"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.etcd.io/etcd/client/pkg/v3/transport"
	"go.etcd.io/etcd/server/v3/embed"

	"github.com/reconfig/reconfig/internal/embedded"
	"github.com/reconfig/reconfig/internal/etcd"
	"github.com/reconfig/reconfig/internal/hint"
	"github.com/reconfig/reconfig/testfixtures/etcdtest"
)

// pki is a CA with a server certificate for 127.0.0.1 and a client
// certificate, written as PEM files.
type pki struct {
	dir                   string
	ca                    *x509.Certificate
	caKey                 *ecdsa.PrivateKey
	caCert                string
	serverCert, serverKey string
	clientCert            string
	clientKeyDER          []byte // PKCS#8
	clientKeyECDER        []byte // SEC 1, for legacy PEM encryption
}

func newCert(t *testing.T, tmpl *x509.Certificate, parent *x509.Certificate, parentKey *ecdsa.PrivateKey) (*x509.Certificate, *ecdsa.PrivateKey, []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert, key, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func writeFile(t *testing.T, path string, data []byte) string {
	t.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func newPKI(t *testing.T, name string) *pki {
	t.Helper()
	dir := filepath.Join(t.TempDir(), name)
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	ca, caKey, caPEM := newCert(t, &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name + " test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}, nil, nil)
	_, srvKey, srvPEM := newCert(t, &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "etcd"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"localhost"},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}, ca, caKey)
	_, cliKey, cliPEM := newCert(t, &x509.Certificate{
		SerialNumber: big.NewInt(3), Subject: pkix.Name{CommonName: "reconfig"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}, ca, caKey)
	srvKeyDER, err := x509.MarshalPKCS8PrivateKey(srvKey)
	if err != nil {
		t.Fatal(err)
	}
	p := &pki{dir: dir, ca: ca, caKey: caKey}
	p.caCert = writeFile(t, filepath.Join(dir, "ca.pem"), caPEM)
	p.serverCert = writeFile(t, filepath.Join(dir, "server.pem"), srvPEM)
	p.serverKey = writeFile(t, filepath.Join(dir, "server-key.pem"), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: srvKeyDER}))
	p.clientCert = writeFile(t, filepath.Join(dir, "client.pem"), cliPEM)
	if p.clientKeyDER, err = x509.MarshalPKCS8PrivateKey(cliKey); err != nil {
		t.Fatal(err)
	}
	if p.clientKeyECDER, err = x509.MarshalECPrivateKey(cliKey); err != nil {
		t.Fatal(err)
	}
	return p
}

// legacyEncrypt writes the client key as legacy encrypted PEM
// (Proc-Type: 4,ENCRYPTED), with IVs from r.
func legacyEncrypt(t *testing.T, r *mrand.ChaCha8, der []byte, pass string) *pem.Block {
	t.Helper()
	//lint:ignore SA1019 legacy PEM encryption is what the test needs.
	b, err := x509.EncryptPEMBlock(r, "EC PRIVATE KEY", der, []byte(pass), x509.PEMCipherAES256) //nolint:staticcheck
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// openssl runs the openssl command, which makes the encrypted keys of the
// tests the way operators make theirs.
func openssl(t *testing.T, args ...string) []byte {
	t.Helper()
	path, err := exec.LookPath("openssl")
	if err != nil {
		t.Fatalf("the encrypted keys of this test are made with openssl, which is not installed (apt-get install openssl): %v", err)
	}
	out, err := exec.Command(path, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("openssl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// topk8 encrypts the PKCS#8 key in file in with openssl pkcs8 -topk8 and
// the given options, into out.
func topk8(t *testing.T, in, out string, opts ...string) string {
	t.Helper()
	openssl(t, append([]string{"pkcs8", "-topk8", "-in", in, "-out", out, "-passout", "pass:s3cret"}, opts...)...)
	return out
}

// genpkey makes an encrypted key with openssl genpkey, and a client
// certificate of p's CA for it.
func (p *pki) genpkey(t *testing.T, name string) (cert, key string) {
	t.Helper()
	key = filepath.Join(p.dir, name+"-key.pem")
	openssl(t, "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-aes-256-cbc", "-pass", "pass:s3cret", "-out", key)
	block, _ := pem.Decode(openssl(t, "pkey", "-in", key, "-passin", "pass:s3cret", "-pubout"))
	if block == nil {
		t.Fatal("openssl pkey -pubout wrote no PEM")
	}
	pub, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	der, err := x509.CreateCertificate(rand.Reader, &x509.Certificate{
		SerialNumber: big.NewInt(4), Subject: pkix.Name{CommonName: "reconfig " + name},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}, p.ca, pub, p.caKey)
	if err != nil {
		t.Fatal(err)
	}
	return writeFile(t, filepath.Join(p.dir, name+".pem"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})), key
}

// startTLS starts an etcd that serves clients over https only and requires
// a client certificate signed by p's CA. It returns the https endpoint.
func startTLS(t *testing.T, p *pki) (*embedded.Server, string) {
	t.Helper()
	var endpoint string
	srv := etcdtest.Start(t, embedded.Options{ConfigHook: func(cfg *embed.Config) {
		cfg.ClientTLSInfo = transport.TLSInfo{
			CertFile: p.serverCert, KeyFile: p.serverKey, TrustedCAFile: p.caCert, ClientCertAuth: true,
		}
		for _, us := range [][]url.URL{cfg.ListenClientUrls, cfg.AdvertiseClientUrls} {
			for i := range us {
				us[i].Scheme = "https"
			}
		}
		endpoint = cfg.ListenClientUrls[0].String()
	}})
	if !strings.HasPrefix(endpoint, "https://127.0.0.1:") {
		t.Fatalf("TLS etcd listens at %q", endpoint)
	}
	return srv, endpoint
}

// TestTLS connects to an etcd that requires client certificates, with the
// client key in each form an operator may have it.
func TestTLS(t *testing.T) {
	t.Parallel()
	p := newPKI(t, "good")
	other := newPKI(t, "other")
	srv, endpoint := startTLS(t, p)
	load(t, srv, map[string]string{"/tls/key": "over TLS"})

	dir := p.dir
	plainKey := writeFile(t, filepath.Join(dir, "key.pem"), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: p.clientKeyDER}))
	ecKey := writeFile(t, filepath.Join(dir, "key-ec.pem"), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: p.clientKeyECDER}))
	r := mrand.NewChaCha8([32]byte{1})
	legacyKey := writeFile(t, filepath.Join(dir, "key-legacy.pem"), pem.EncodeToMemory(legacyEncrypt(t, r, p.clientKeyECDER, "s3cret")))
	// A legacy key whose decryption with the wrong passphrase still ends
	// in valid padding (about 1 in 256): only parsing the result shows
	// the passphrase was wrong.
	var lucky *pem.Block
	for range 100000 {
		b := legacyEncrypt(t, r, p.clientKeyECDER, "s3cret")
		//lint:ignore SA1019 legacy PEM encryption is what the test needs.
		if _, err := x509.DecryptPEMBlock(b, []byte("wrong")); err == nil { //nolint:staticcheck
			lucky = b
			break
		}
	}
	if lucky == nil {
		t.Fatal("no legacy key decrypts with valid padding under the wrong passphrase")
	}
	luckyKey := writeFile(t, filepath.Join(dir, "key-legacy-lucky.pem"), pem.EncodeToMemory(lucky))
	pkcs8Key := topk8(t, plainKey, filepath.Join(dir, "key-pkcs8.pem"), "-v2", "aes-256-cbc", "-v2prf", "hmacWithSHA256")
	pkcs8AES128Key := topk8(t, plainKey, filepath.Join(dir, "key-pkcs8-aes128.pem"), "-v2", "aes-128-cbc", "-v2prf", "hmacWithSHA1")
	pkcs8DES3Key := topk8(t, plainKey, filepath.Join(dir, "key-pkcs8-des3.pem"), "-v2", "des3")
	pkcs8ScryptKey := topk8(t, plainKey, filepath.Join(dir, "key-pkcs8-scrypt.pem"), "-scrypt")
	genCert, genKey := p.genpkey(t, "genpkey")
	otherKey := writeFile(t, filepath.Join(other.dir, "key.pem"), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: other.clientKeyDER}))
	missing := filepath.Join(dir, "missing.pem")
	// TLS files are often links (certbot's live/, Kubernetes secret
	// volumes): followed; but what they lead to must be a regular file.
	caLink := filepath.Join(dir, "ca-link.pem")
	if err := os.Symlink(p.caCert, caLink); err != nil {
		t.Fatal(err)
	}
	fifoKey := filepath.Join(dir, "fifo-key.pem")
	if err := syscall.Mkfifo(fifoKey, 0o600); err != nil {
		t.Fatal(err)
	}
	zeroCert := filepath.Join(dir, "zero.pem")
	if err := os.Symlink("/dev/zero", zeroCert); err != nil {
		t.Fatal(err)
	}
	notPEM := writeFile(t, filepath.Join(dir, "not.pem"), []byte("hello\n"))

	tests := []struct {
		name  string
		files etcd.TLSFiles
		// configErr: TLSFiles.Config fails with all of these, before any
		// connection.
		configErr []string
		// connectErr: Connect (or the first read) fails with all of these.
		connectErr []string
	}{
		{name: "plain PKCS#8 key", files: etcd.TLSFiles{CACert: p.caCert, Cert: p.clientCert, Key: plainKey}},
		{name: "plain EC key", files: etcd.TLSFiles{CACert: p.caCert, Cert: p.clientCert, Key: ecKey}},
		{name: "plain key with a passphrase given anyway", files: etcd.TLSFiles{CACert: p.caCert, Cert: p.clientCert, Key: plainKey, Passphrase: "unused"}},
		{name: "legacy encrypted PEM, right passphrase", files: etcd.TLSFiles{CACert: p.caCert, Cert: p.clientCert, Key: legacyKey, Passphrase: "s3cret"}},
		{
			name:      "legacy encrypted PEM, wrong passphrase",
			files:     etcd.TLSFiles{CACert: p.caCert, Cert: p.clientCert, Key: legacyKey, Passphrase: "wrong"},
			configErr: []string{"--key " + legacyKey, "wrong passphrase"},
		},
		{
			name:      "legacy encrypted PEM, wrong passphrase that passes the padding check",
			files:     etcd.TLSFiles{CACert: p.caCert, Cert: p.clientCert, Key: luckyKey, Passphrase: "wrong"},
			configErr: []string{"--key " + luckyKey, "wrong passphrase"},
		},
		{
			name:      "legacy encrypted PEM, no passphrase",
			files:     etcd.TLSFiles{CACert: p.caCert, Cert: p.clientCert, Key: legacyKey},
			configErr: []string{"--key " + legacyKey, "encrypted and no passphrase was given"},
		},
		{name: "PKCS#8 PBES2 AES-256-CBC HMAC-SHA256, right passphrase", files: etcd.TLSFiles{CACert: p.caCert, Cert: p.clientCert, Key: pkcs8Key, Passphrase: "s3cret"}},
		{name: "PKCS#8 PBES2 AES-128-CBC HMAC-SHA1, right passphrase", files: etcd.TLSFiles{CACert: p.caCert, Cert: p.clientCert, Key: pkcs8AES128Key, Passphrase: "s3cret"}},
		{name: "PKCS#8 PBES2 3DES-CBC, right passphrase", files: etcd.TLSFiles{CACert: p.caCert, Cert: p.clientCert, Key: pkcs8DES3Key, Passphrase: "s3cret"}},
		{name: "PKCS#8 PBES2 scrypt, right passphrase", files: etcd.TLSFiles{CACert: p.caCert, Cert: p.clientCert, Key: pkcs8ScryptKey, Passphrase: "s3cret"}},
		{
			name:      "PKCS#8 PBES2 scrypt, wrong passphrase",
			files:     etcd.TLSFiles{CACert: p.caCert, Cert: p.clientCert, Key: pkcs8ScryptKey, Passphrase: "wrong"},
			configErr: []string{"--key " + pkcs8ScryptKey, "wrong passphrase"},
		},
		{name: "openssl genpkey -aes-256-cbc key, right passphrase", files: etcd.TLSFiles{CACert: p.caCert, Cert: genCert, Key: genKey, Passphrase: "s3cret"}},
		{
			name:      "openssl genpkey key, no passphrase",
			files:     etcd.TLSFiles{CACert: p.caCert, Cert: genCert, Key: genKey},
			configErr: []string{"--key " + genKey, "encrypted and no passphrase was given"},
		},
		{
			name:      "PKCS#8 PBES2, wrong passphrase",
			files:     etcd.TLSFiles{CACert: p.caCert, Cert: p.clientCert, Key: pkcs8Key, Passphrase: "s3creT"},
			configErr: []string{"--key " + pkcs8Key, "wrong passphrase"},
		},
		{
			name:      "PKCS#8 PBES2, no passphrase",
			files:     etcd.TLSFiles{CACert: p.caCert, Cert: p.clientCert, Key: pkcs8Key},
			configErr: []string{"--key " + pkcs8Key, "encrypted and no passphrase was given"},
		},
		{
			name:      "missing CA file",
			files:     etcd.TLSFiles{CACert: missing, Cert: p.clientCert, Key: plainKey},
			configErr: []string{"--cacert " + missing + ": no such file or directory"},
		},
		{
			name:      "missing cert file",
			files:     etcd.TLSFiles{CACert: p.caCert, Cert: missing, Key: plainKey},
			configErr: []string{"--cert " + missing + ": no such file or directory"},
		},
		{
			name:      "missing key file",
			files:     etcd.TLSFiles{CACert: p.caCert, Cert: p.clientCert, Key: missing},
			configErr: []string{"--key " + missing + ": no such file or directory"},
		},
		{name: "CA file that is a symlink", files: etcd.TLSFiles{CACert: caLink, Cert: p.clientCert, Key: plainKey}},
		{
			name:      "key file that is a FIFO",
			files:     etcd.TLSFiles{CACert: p.caCert, Cert: p.clientCert, Key: fifoKey},
			configErr: []string{"--key " + fifoKey + " is a FIFO (named pipe), not a regular file"},
		},
		{
			name:      "cert file that is a link to /dev/zero",
			files:     etcd.TLSFiles{CACert: p.caCert, Cert: zeroCert, Key: plainKey},
			configErr: []string{"--cert " + zeroCert + " is a character device, not a regular file"},
		},
		{
			name:      "cert without key",
			files:     etcd.TLSFiles{CACert: p.caCert, Cert: p.clientCert},
			configErr: []string{"--cert and --key go together"},
		},
		{
			name:      "CA file without a certificate",
			files:     etcd.TLSFiles{CACert: notPEM, Cert: p.clientCert, Key: plainKey},
			configErr: []string{"--cacert " + notPEM + " holds no PEM certificate"},
		},
		{
			name:      "key file that is not PEM",
			files:     etcd.TLSFiles{CACert: p.caCert, Cert: p.clientCert, Key: notPEM},
			configErr: []string{"--key " + notPEM, "no PEM block"},
		},
		{
			name:      "key of another certificate",
			files:     etcd.TLSFiles{CACert: p.caCert, Cert: other.clientCert, Key: plainKey},
			configErr: []string{"--cert " + other.clientCert, "--key " + plainKey},
		},
		{
			name:       "no client certificate: the server refuses",
			files:      etcd.TLSFiles{CACert: p.caCert},
			connectErr: []string{"cannot reach etcd at " + endpoint, "certificate required"},
		},
		{
			name:       "client certificate of a CA the server does not trust",
			files:      etcd.TLSFiles{CACert: p.caCert, Cert: other.clientCert, Key: otherKey},
			connectErr: []string{"cannot reach etcd at " + endpoint, "the TLS connection was refused", "certificate"},
		},
		{
			name:       "server signed by another CA",
			files:      etcd.TLSFiles{CACert: other.caCert, Cert: p.clientCert, Key: plainKey},
			connectErr: []string{"cannot reach etcd at " + endpoint, "TLS handshake failed", "certificate signed by unknown authority"},
		},
		{name: "skip verify instead of a CA", files: etcd.TLSFiles{Cert: p.clientCert, Key: plainKey, InsecureSkipVerify: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg, err := tt.files.Config()
			if len(tt.configErr) > 0 {
				var e *etcd.Error
				if !errors.As(err, &e) {
					t.Fatalf("Config() = %v, %v; want an *etcd.Error", cfg, err)
				}
				for _, w := range tt.configErr {
					if !strings.Contains(e.Error(), w) {
						t.Errorf("error %q does not say %q", e, w)
					}
				}
				t.Logf("%v (hint: %s)", e, hint.Of(err))
				return
			}
			if err != nil {
				t.Fatalf("Config(): %v", err)
			}
			ctx := testCtx(t)
			c, err := etcd.Connect(ctx, etcd.Config{Endpoints: []string{endpoint}, TLS: cfg, DialTimeout: time.Second})
			if err == nil {
				defer c.Close()
				var v string
				v, err = c.Get(ctx, "/tls/key")
				if err == nil && v != "over TLS" {
					t.Fatalf("Get over TLS = %q", v)
				}
			}
			if len(tt.connectErr) > 0 {
				var e *etcd.Error
				if !errors.As(err, &e) {
					t.Fatalf("connect and read = %v, want an *etcd.Error", err)
				}
				for _, w := range tt.connectErr {
					if !strings.Contains(e.Error(), w) {
						t.Errorf("error %q does not say %q", e, w)
					}
				}
				if !strings.Contains(hint.Of(err), "--cacert") {
					t.Errorf("hint %q does not point at the TLS flags", hint.Of(err))
				}
				t.Logf("%v (hint: %s)", e, hint.Of(err))
				return
			}
			if err != nil {
				t.Fatalf("connect and read over TLS: %v", err)
			}
		})
	}

	t.Run("https endpoint without TLS settings", func(t *testing.T) {
		t.Parallel()
		r := connectAsync(t, testCtx(t), etcd.Config{Endpoints: []string{endpoint}, DialTimeout: time.Second})
		var e *etcd.Error
		if !errors.As(r.err, &e) || !strings.Contains(e.Error(), endpoint) || !strings.Contains(e.Error(), "https endpoint without TLS settings") {
			t.Fatalf("Connect = %v, want an error naming %s and the missing TLS settings", r.err, endpoint)
		}
	})
}
