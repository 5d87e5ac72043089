package etcd

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/des"
	"crypto/pbkdf2"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"fmt"
	"hash"
	"os"

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

var (
	oidPBES2      = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 5, 13}
	oidPBKDF2     = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 5, 12}
	oidHMACSHA1   = asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 7}
	oidHMACSHA224 = asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 8}
	oidHMACSHA256 = asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 9}
	oidHMACSHA384 = asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 10}
	oidHMACSHA512 = asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 11}
	oidAES128CBC  = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 2}
	oidAES192CBC  = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 22}
	oidAES256CBC  = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 42}
	oidDESEDE3CBC = asn1.ObjectIdentifier{1, 2, 840, 113549, 3, 7}
)

type encryptedPrivateKeyInfo struct {
	Algorithm pkix.AlgorithmIdentifier
	Data      []byte
}

type pbes2Params struct {
	KDF pkix.AlgorithmIdentifier
	Enc pkix.AlgorithmIdentifier
}

type pbkdf2Params struct {
	Salt       []byte
	Iterations int
	KeyLength  int                      `asn1:"optional"`
	PRF        pkix.AlgorithmIdentifier `asn1:"optional"`
}

// decryptPKCS8 decrypts a PKCS#8 EncryptedPrivateKeyInfo protected with
// PBES2 (PBKDF2 and AES-CBC or 3DES-CBC), as `openssl pkcs8 -topk8`
// writes it.
func decryptPKCS8(der, passphrase []byte) ([]byte, error) {
	var info encryptedPrivateKeyInfo
	if _, err := asn1.Unmarshal(der, &info); err != nil {
		return nil, fmt.Errorf("encrypted key: %v", err)
	}
	if !info.Algorithm.Algorithm.Equal(oidPBES2) {
		return nil, fmt.Errorf("encrypted key: only PBES2 encryption is supported (found %v)", info.Algorithm.Algorithm)
	}
	var params pbes2Params
	if _, err := asn1.Unmarshal(info.Algorithm.Parameters.FullBytes, &params); err != nil {
		return nil, fmt.Errorf("encrypted key: PBES2 parameters: %v", err)
	}
	if !params.KDF.Algorithm.Equal(oidPBKDF2) {
		return nil, fmt.Errorf("encrypted key: only PBKDF2 key derivation is supported (found %v)", params.KDF.Algorithm)
	}
	var kdf pbkdf2Params
	if _, err := asn1.Unmarshal(params.KDF.Parameters.FullBytes, &kdf); err != nil {
		return nil, fmt.Errorf("encrypted key: PBKDF2 parameters: %v", err)
	}
	var h func() hash.Hash
	switch prf := kdf.PRF.Algorithm; {
	case len(prf) == 0 || prf.Equal(oidHMACSHA1):
		h = sha1.New
	case prf.Equal(oidHMACSHA224):
		h = sha256.New224
	case prf.Equal(oidHMACSHA256):
		h = sha256.New
	case prf.Equal(oidHMACSHA384):
		h = sha512.New384
	case prf.Equal(oidHMACSHA512):
		h = sha512.New
	default:
		return nil, fmt.Errorf("encrypted key: unsupported PBKDF2 hash %v", prf)
	}
	var keyLen int
	var newCipher func([]byte) (cipher.Block, error)
	switch enc := params.Enc.Algorithm; {
	case enc.Equal(oidAES128CBC):
		keyLen, newCipher = 16, aes.NewCipher
	case enc.Equal(oidAES192CBC):
		keyLen, newCipher = 24, aes.NewCipher
	case enc.Equal(oidAES256CBC):
		keyLen, newCipher = 32, aes.NewCipher
	case enc.Equal(oidDESEDE3CBC):
		keyLen, newCipher = 24, des.NewTripleDESCipher
	default:
		return nil, fmt.Errorf("encrypted key: unsupported cipher %v", enc)
	}
	var iv []byte
	if _, err := asn1.Unmarshal(params.Enc.Parameters.FullBytes, &iv); err != nil {
		return nil, fmt.Errorf("encrypted key: cipher parameters: %v", err)
	}
	key, err := pbkdf2.Key(h, string(passphrase), kdf.Salt, kdf.Iterations, keyLen)
	if err != nil {
		return nil, fmt.Errorf("encrypted key: %v", err)
	}
	block, err := newCipher(key)
	if err != nil {
		return nil, err
	}
	if len(iv) != block.BlockSize() || len(info.Data)%block.BlockSize() != 0 || len(info.Data) == 0 {
		return nil, errors.New("encrypted key: damaged (bad IV or data length)")
	}
	plain := make([]byte, len(info.Data))
	cipher.NewCBCDecrypter(block, iv).CryptBlocks(plain, info.Data)
	// PKCS#7 padding; a wrong passphrase almost always breaks it.
	n := int(plain[len(plain)-1])
	if n == 0 || n > block.BlockSize() {
		return nil, errors.New("wrong passphrase, or the key is damaged")
	}
	for _, b := range plain[len(plain)-n:] {
		if int(b) != n {
			return nil, errors.New("wrong passphrase, or the key is damaged")
		}
	}
	plain = plain[:len(plain)-n]
	if _, err := x509.ParsePKCS8PrivateKey(plain); err != nil {
		return nil, errors.New("wrong passphrase, or the key is damaged")
	}
	return plain, nil
}
