/**
 * A placeholder certificate for TLS addresses whose sites use `tls = "auto"` and have no
 * certificate yet: Bun binds a TLS address with one certificate (docs/runtime-notes.md), so
 * something must be there before ACME has answered. Self-signed for "dreamserver.invalid"
 * (RFC 6761: never a real name) and published here, so no client trusts it; it only lets the
 * handshake fail cleanly (unknown issuer) until the real certificate replaces it per SNI.
 */
export const PLACEHOLDER_CERT = `-----BEGIN CERTIFICATE-----
MIIBsjCCAVmgAwIBAgIUMrVAtR/E6Q+XoILkYDDsnnqNEywwCgYIKoZIzj0EAwIw
HjEcMBoGA1UEAwwTZHJlYW1zZXJ2ZXIuaW52YWxpZDAgFw0yNjEyMDYwNTQ1MDNa
GA8yMTI2MTExMjA1NDUwM1owHjEcMBoGA1UEAwwTZHJlYW1zZXJ2ZXIuaW52YWxp
ZDBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABNzCtligZqkpFQbPVR61WPm6lbsy
Aoeql9O1DsSEGI89ujFxLjyoiz5acO5eeDGPaNgSdIA7bNPKOYe1I2hb8XCjczBx
MB0GA1UdDgQWBBSScG1yNageIqK2qhUqSMNMqUv2XTAfBgNVHSMEGDAWgBSScG1y
NageIqK2qhUqSMNMqUv2XTAPBgNVHRMBAf8EBTADAQH/MB4GA1UdEQQXMBWCE2Ry
ZWFtc2VydmVyLmludmFsaWQwCgYIKoZIzj0EAwIDRwAwRAIgeld03MlsP/6EkyHN
ysnDE2h3QgxY/CNUnapfWTP/RfwCIGj40PW8GrjPCMDafbi4JTrnpuLyjmWy/eBm
PqZJjiyI
-----END CERTIFICATE-----
`;
export const PLACEHOLDER_KEY = `-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgF9RR2jHU2nEi4FhV
se7N0hvbvAGKeC6qhBNy7Wmm7DChRANCAATcwrZYoGapKRUGz1UetVj5upW7MgKH
qpfTtQ7EhBiPPboxcS48qIs+WnDuXngxj2jYEnSAO2zTyjmHtSNoW/Fw
-----END PRIVATE KEY-----
`;
