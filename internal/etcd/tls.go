package etcd

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/youmark/pkcs8"

	"github.com/reconfig/reconfig/internal/atomicfile"
	"github.com/reconfig/reconfig/internal/hint"
)

// TLSFiles names the files of a TLS connection to etcd.
type TLSFiles struct {
	CACert, Cert, Key string
	// Passphrase decrypts an encrypted Key (PKCS#8 "ENCRYPTED PRIVATE
	// KEY", or legacy PEM with Proc-Type: 4,ENCRYPTED).
	Passphrase         string
	InsecureSkipVerify bool
}

// maxTLSFile is the largest certificate, CA bundle or key read: a CA
// bundle of every public root is about 250 KiB.
const maxTLSFile = 1 << 20

// readTLSFile reads a TLS file through atomicfile.Read. TLS files are the
// operator's and are often symlinks (certbot's live/ directory, Kubernetes
// secret volumes), so links are followed; what they lead to must be a
// regular file, read without blocking and up to maxTLSFile.
func readTLSFile(flag, path string) ([]byte, error) {
	data, _, err := atomicfile.Read(path, atomicfile.ReadOptions{Max: maxTLSFile, FollowSymlink: true})
	var re *atomicfile.RefusedError
	switch {
	case errors.As(err, &re):
		return nil, hint.Wrap(&Error{Msg: fmt.Sprintf("%s %s %s", flag, path, re.What())},
			"TLS files must be regular files (or links to them)")
	case err != nil:
		return nil, &Error{Msg: fmt.Sprintf("%s %s: %v", flag, path, atomicfile.WithoutPath(err))}
	}
	return data, nil
}

// Config builds the tls.Config. Every named file must exist: a missing one
// is an error before any connection is tried.
func (f TLSFiles) Config() (*tls.Config, error) {
	for _, p := range []struct{ flag, path string }{{"--cacert", f.CACert}, {"--cert", f.Cert}, {"--key", f.Key}} {
		if p.path == "" {
			continue
		}
		if _, err := os.Stat(p.path); err != nil {
			return nil, hint.Wrap(&Error{Msg: fmt.Sprintf("%s %s: %v", p.flag, p.path, atomicfile.WithoutPath(err))},
				"TLS files must exist and be readable")
		}
	}
	if (f.Cert == "") != (f.Key == "") {
		return nil, &Error{Msg: "--cert and --key go together: give both or neither"}
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: f.InsecureSkipVerify}
	if f.CACert != "" {
		pemData, err := readTLSFile("--cacert", f.CACert)
		if err != nil {
			return nil, err
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pemData) {
			return nil, &Error{Msg: fmt.Sprintf("--cacert %s holds no PEM certificate", f.CACert)}
		}
		cfg.RootCAs = pool
	}
	if f.Cert != "" {
		certPEM, err := readTLSFile("--cert", f.Cert)
		if err != nil {
			return nil, err
		}
		keyPEM, err := readTLSFile("--key", f.Key)
		if err != nil {
			return nil, err
		}
		keyPEM, err = decryptKeyPEM(keyPEM, f.Passphrase)
		if err != nil {
			return nil, hint.Wrap(&Error{Msg: fmt.Sprintf("--key %s: %v", f.Key, err)},
				"give the key's passphrase with --key-passphrase (or RECONFIG_KEY_PASSPHRASE)")
		}
		pair, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			return nil, &Error{Msg: fmt.Sprintf("--cert %s / --key %s: %v", f.Cert, f.Key, err)}
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	return cfg, nil
}

// decryptKeyPEM returns an unencrypted PEM private key.
func decryptKeyPEM(data []byte, passphrase string) ([]byte, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, errors.New("no PEM block found")
	}
	//lint:ignore SA1019 legacy PEM encryption is what old keys use.
	legacy := x509.IsEncryptedPEMBlock(block) //nolint:staticcheck
	switch {
	case block.Type == "ENCRYPTED PRIVATE KEY":
		if passphrase == "" {
			return nil, errors.New("the key is encrypted and no passphrase was given")
		}
		der, err := decryptPKCS8(block.Bytes, []byte(passphrase))
		if err != nil {
			return nil, err
		}
		return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
	case legacy:
		if passphrase == "" {
			return nil, errors.New("the key is encrypted and no passphrase was given")
		}
		//lint:ignore SA1019 legacy PEM encryption is what old keys use.
		der, err := x509.DecryptPEMBlock(block, []byte(passphrase))
		// A wrong passphrase leaves valid padding about once in 256
		// tries; only parsing the result tells.
		if err != nil || !isPrivateKey(der) {
			return nil, errors.New("wrong passphrase, or the key is damaged")
		}
		return pem.EncodeToMemory(&pem.Block{Type: block.Type, Bytes: der}), nil
	}
	return data, nil
}

// isPrivateKey reports whether der is a PKCS#1, SEC 1 or PKCS#8 private key.
func isPrivateKey(der []byte) bool {
	if _, err := x509.ParsePKCS1PrivateKey(der); err == nil {
		return true
	}
	if _, err := x509.ParseECPrivateKey(der); err == nil {
		return true
	}
	_, err := x509.ParsePKCS8PrivateKey(der)
	return err == nil
}

// decryptPKCS8 decrypts a PKCS#8 EncryptedPrivateKeyInfo (PBES2 with
// PBKDF2 or scrypt, and AES-CBC, AES-GCM or 3DES-CBC, as `openssl pkcs8
// -topk8` writes it) and returns the key as unencrypted PKCS#8.
func decryptPKCS8(der, passphrase []byte) ([]byte, error) {
	key, err := pkcs8.ParsePKCS8PrivateKey(der, passphrase)
	if err != nil {
		msg := err.Error()
		if strings.Contains(msg, "incorrect password") || strings.Contains(msg, "padding") {
			return nil, errors.New("wrong passphrase, or the key is damaged")
		}
		return nil, fmt.Errorf("encrypted key: %s", strings.TrimPrefix(msg, "pkcs8: "))
	}
	return x509.MarshalPKCS8PrivateKey(key)
}
