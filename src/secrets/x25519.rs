//! age's X25519 recipient stanza, unwrapped with aws-lc's X25519.
//!
//! Decrypting a value is one X25519 agreement, and for age's own identity also one
//! derivation of the identity's public key. aws-lc's X25519 is assembly, about twice as
//! fast here as curve25519-dalek's portable code, and the public key is derived once
//! per identity. The rest is age's: the stanza checks of the age specification, and
//! HKDF and ChaCha20-Poly1305 from age-core. A test holds the result to age's own
//! identity, file for file.

use age::DecryptError;
use age_core::format::{FILE_KEY_BYTES, FileKey, Stanza};
use age_core::primitives::{aead_decrypt, hkdf};
use aws_lc_rs::agreement::{PrivateKey, UnparsedPublicKey, X25519, agree};
use base64::Engine;
use base64::prelude::BASE64_STANDARD_NO_PAD;
use bech32::FromBase32;
use secrecy::ExposeSecret;
use zeroize::{Zeroize, Zeroizing};

const TAG: &str = "X25519";
const LABEL: &[u8] = b"age-encryption.org/v1/X25519";
const KEY_BYTES: usize = 32;

/// An age X25519 identity that decrypts what `age::x25519::Identity` decrypts.
pub struct FastIdentity {
    secret: PrivateKey,
    public: [u8; KEY_BYTES],
}

impl FastIdentity {
    pub fn new(identity: &age::x25519::Identity) -> Result<Self, String> {
        let encoded = identity.to_string();
        let (_, mut data, _) =
            bech32::decode(encoded.expose_secret()).map_err(|e| format!("unreadable key: {e}"))?;
        let bytes = Vec::<u8>::from_base32(&data).map(Zeroizing::new);
        data.fill(bech32::u5::default());
        let bytes = bytes.map_err(|e| format!("unreadable key: {e}"))?;
        let secret = PrivateKey::from_private_key(&X25519, &bytes).map_err(|_| "not an X25519 key")?;
        let public = secret
            .compute_public_key()
            .map_err(|_| "no public key")?
            .as_ref()
            .try_into()
            .map_err(|_| "a public key of the wrong length")?;
        Ok(FastIdentity { secret, public })
    }

    fn shared_secret(&self, ephemeral: &[u8; KEY_BYTES]) -> Option<Zeroizing<[u8; KEY_BYTES]>> {
        // aws-lc refuses an all-zero result (a low-order ephemeral share), as age does.
        agree(
            &self.secret,
            UnparsedPublicKey::new(&X25519, ephemeral),
            (),
            |shared| shared.try_into().map(Zeroizing::new).map_err(drop),
        )
        .ok()
    }
}

impl age::Identity for FastIdentity {
    fn unwrap_stanza(&self, stanza: &Stanza) -> Option<Result<FileKey, DecryptError>> {
        if stanza.tag != TAG {
            return None;
        }
        let invalid = Some(Err(DecryptError::InvalidHeader));
        // The ephemeral share: exactly one argument, canonical unpadded base64 of 32 bytes.
        let [argument] = &stanza.args[..] else {
            return invalid;
        };
        let mut ephemeral = [0; KEY_BYTES + 1];
        if BASE64_STANDARD_NO_PAD.decode_slice(argument, &mut ephemeral) != Ok(KEY_BYTES) {
            return invalid;
        }
        let ephemeral: [u8; KEY_BYTES] = ephemeral[..KEY_BYTES].try_into().expect("32 bytes");
        if stanza.body.len() != FILE_KEY_BYTES + 16 {
            return invalid;
        }
        let Some(shared) = self.shared_secret(&ephemeral) else {
            return invalid;
        };
        let mut salt = [0; 2 * KEY_BYTES];
        salt[..KEY_BYTES].copy_from_slice(&ephemeral);
        salt[KEY_BYTES..].copy_from_slice(&self.public);
        let key = Zeroizing::new(hkdf(&salt, LABEL, shared.as_ref()));
        // Not ours (another recipient's stanza) is not an error: the next one may be.
        let mut plaintext = aead_decrypt(&key, FILE_KEY_BYTES, &stanza.body).ok()?;
        let file_key = FileKey::init_with_mut(|file_key| file_key.copy_from_slice(&plaintext));
        plaintext.zeroize();
        Some(Ok(file_key))
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};

    use age::Identity as _;

    use super::*;

    fn encrypt(to: &[&age::x25519::Identity], plaintext: &[u8]) -> Vec<u8> {
        let recipients: Vec<age::x25519::Recipient> = to.iter().map(|i| i.to_public()).collect();
        let encryptor = age::Encryptor::with_recipients(recipients.iter().map(|r| r as &dyn age::Recipient))
            .expect("recipients");
        let mut out = Vec::new();
        let mut writer = encryptor.wrap_output(&mut out).expect("writer");
        writer.write_all(plaintext).expect("writes");
        writer.finish().expect("finishes");
        out
    }

    fn decrypt(file: &[u8], identity: &dyn age::Identity) -> Result<Vec<u8>, DecryptError> {
        let decryptor = age::Decryptor::new(file)?;
        let mut reader = decryptor.decrypt(std::iter::once(identity))?;
        let mut plaintext = Vec::new();
        reader.read_to_end(&mut plaintext).expect("reads");
        Ok(plaintext)
    }

    fn stanza(args: &[&str], body: Vec<u8>) -> Stanza {
        Stanza {
            tag: TAG.to_owned(),
            args: args.iter().map(|a| (*a).to_owned()).collect(),
            body,
        }
    }

    #[test]
    fn it_decrypts_what_age_decrypts_and_nothing_else() {
        let ours = age::x25519::Identity::generate();
        let other = age::x25519::Identity::generate();
        let fast = FastIdentity::new(&ours).expect("a key");
        for (n, to) in [vec![&ours], vec![&other, &ours], vec![&other]]
            .into_iter()
            .enumerate()
        {
            let plaintext = format!("https://hooks.slack.com/services/T0FAKE000/B0FAKE00{n}/FAKE");
            let file = encrypt(&to, plaintext.as_bytes());
            let by_age = decrypt(&file, &ours).map_err(|e| e.to_string());
            let by_fast = decrypt(&file, &fast).map_err(|e| e.to_string());
            assert_eq!(by_fast, by_age, "file {n}");
        }
    }

    #[test]
    fn malformed_and_low_order_stanzas_are_invalid_headers_as_in_age() {
        let ours = age::x25519::Identity::generate();
        let fast = FastIdentity::new(&ours).expect("a key");
        let share = BASE64_STANDARD_NO_PAD.encode([9u8; KEY_BYTES]);
        let zero = BASE64_STANDARD_NO_PAD.encode([0u8; KEY_BYTES]);
        let body = vec![0; FILE_KEY_BYTES + 16];
        for (what, bad) in [
            ("two arguments", stanza(&[&share, &share], body.clone())),
            ("a short share", stanza(&["AAAA"], body.clone())),
            ("a short body", stanza(&[&share], vec![0; 3])),
            ("a low-order share", stanza(&[&zero], body.clone())),
        ] {
            let by_age = ours
                .unwrap_stanza(&bad)
                .map(|r| r.map(drop).map_err(|e| e.to_string()));
            let by_fast = fast
                .unwrap_stanza(&bad)
                .map(|r| r.map(drop).map_err(|e| e.to_string()));
            assert_eq!(by_fast, by_age, "{what}");
            assert!(matches!(by_fast, Some(Err(_))), "{what}");
        }
        let foreign = Stanza {
            tag: "scrypt".to_owned(),
            ..stanza(&[&share], body)
        };
        assert!(fast.unwrap_stanza(&foreign).is_none());
    }
}
