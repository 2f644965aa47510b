//! Armored age encryption and decryption of single values.

use std::io::{Read, Write};

use age::armor::{ArmoredReader, ArmoredWriter, Format};

use super::identity::{Keyring, Recipients};
use super::{Secret, SecretsError};

const BEGIN: &str = "-----BEGIN AGE ENCRYPTED FILE-----";
const END: &str = "-----END AGE ENCRYPTED FILE-----";

/// Encrypts `plaintext` to every recipient, as an armored block ending in a newline.
pub fn encrypt(plaintext: &Secret, recipients: &Recipients) -> Result<String, SecretsError> {
    let failed = |e: &dyn std::fmt::Display| SecretsError::Encrypt {
        reason: e.to_string(),
    };
    let encryptor = age::Encryptor::with_recipients(recipients.iter()).map_err(|e| failed(&e))?;
    let mut armored = Vec::new();
    let armor = ArmoredWriter::wrap_output(&mut armored, Format::AsciiArmor).map_err(|e| failed(&e))?;
    let mut writer = encryptor.wrap_output(armor).map_err(|e| failed(&e))?;
    writer
        .write_all(plaintext.expose().as_bytes())
        .map_err(|e| failed(&e))?;
    writer
        .finish()
        .and_then(ArmoredWriter::finish)
        .map_err(|e| failed(&e))?;
    String::from_utf8(armored).map_err(|e| failed(&e))
}

/// Decrypts an armored block with any key of `keyring`.
pub fn decrypt(armored: &str, keyring: &Keyring) -> Result<Secret, SecretsError> {
    let failed = |reason: String| SecretsError::Decrypt { reason };
    let decryptor = age::Decryptor::new_buffered(ArmoredReader::new(armored.as_bytes()))
        .map_err(|e| failed(format!("malformed age ciphertext: {e}")))?;
    let mut reader = decryptor.decrypt(keyring.identities()).map_err(|e| match e {
        age::DecryptError::NoMatchingKeys => SecretsError::NotForThisIdentity,
        other => failed(other.to_string()),
    })?;
    let mut plaintext = zeroize::Zeroizing::new(Vec::new());
    reader
        .read_to_end(&mut plaintext)
        .map_err(|e| failed(format!("corrupt ciphertext: {e}")))?;
    let text =
        std::str::from_utf8(&plaintext).map_err(|_| failed("the plaintext is not UTF-8 text".to_owned()))?;
    Ok(Secret::new(text))
}

/// Checks that `armored` is one armored age file with a well-formed header, without
/// decrypting it. Returns what is wrong.
pub fn check_armor(armored: &str) -> Result<(), String> {
    let text = armored.trim();
    if !text.starts_with(BEGIN) {
        return Err(format!("it does not start with `{BEGIN}`"));
    }
    if !text.ends_with(END) {
        return Err(format!("it does not end with `{END}`"));
    }
    let mut decoded = Vec::new();
    ArmoredReader::new(text.as_bytes())
        .read_to_end(&mut decoded)
        .map_err(|e| format!("its armor is not valid: {e}"))?;
    age::Decryptor::new_buffered(decoded.as_slice())
        .map(drop)
        .map_err(|e| format!("its header is not valid: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keyring() -> Keyring {
        Keyring::from_text(
            &age::x25519::Identity::generate()
                .to_string()
                .expose_secret_for_test(),
        )
        .expect("generated key")
    }

    trait ExposeForTest {
        fn expose_secret_for_test(&self) -> String;
    }

    impl ExposeForTest for secrecy::SecretString {
        fn expose_secret_for_test(&self) -> String {
            use secrecy::ExposeSecret;
            self.expose_secret().to_owned()
        }
    }

    #[test]
    fn round_trip() {
        let keyring = keyring();
        let secret = Secret::new("https://hooks.slack.com/services/TFAKE000/BFAKE000/fake-secret-value");
        let armored = encrypt(&secret, &keyring.recipients()).expect("encrypts");
        assert!(armored.starts_with(BEGIN));
        assert!(check_armor(&armored).is_ok());
        assert_eq!(decrypt(&armored, &keyring).expect("decrypts"), secret);
    }

    #[test]
    fn a_foreign_key_cannot_decrypt() {
        let armored = encrypt(&Secret::new("xoxb-fake"), &keyring().recipients()).expect("encrypts");
        let error = decrypt(&armored, &keyring()).expect_err("other key");
        assert_eq!(error.to_string(), "it was not encrypted to this identity");
    }

    #[test]
    fn armor_shape_is_checked() {
        assert!(check_armor("hello").unwrap_err().contains("does not start"));
        assert!(
            check_armor(&format!("{BEGIN}\nAAAA\n"))
                .unwrap_err()
                .contains("does not end")
        );
        assert!(
            check_armor(&format!("{BEGIN}\nAAAA\n{END}\n"))
                .unwrap_err()
                .contains("header")
        );
        let good = encrypt(&Secret::new("xoxb-fake"), &keyring().recipients()).expect("encrypts");
        let two_blocks = format!("{good}{good}");
        assert!(
            check_armor(&two_blocks).unwrap_err().contains("armor"),
            "two blocks under one key"
        );
        let extra_line = good.replacen('\n', "\nAAAA\n", 2);
        assert!(check_armor(&extra_line).is_err(), "a line added to the body");
    }
}
