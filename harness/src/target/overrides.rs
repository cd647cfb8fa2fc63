//! Command-line flags that override what a targets file says of every meter.

use super::{ClientKind, HlsClient, HlsKeys, LlsClient, MeterTarget, TargetError, Transport};
use std::time::Duration;

/// The LLS client's SAP when neither a flag nor the file gives one: the management client.
const MANAGEMENT_CLIENT: u16 = 1;

/// What flags say of every meter; `None` leaves the file's value.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// `--transport`.
    pub transport: Option<Transport>,
    /// `--client`: the SAP of the client the commands associate as.
    pub client_sap: Option<u16>,
    /// `--password`: associate with LLS.
    pub password: Option<String>,
    /// `--hls-keys`: associate with HLS-GMAC.
    pub hls: Option<HlsKeys>,
    /// `--timeout`.
    pub request_timeout: Option<Duration>,
}

impl Overrides {
    /// Applies the flags to one meter.
    pub fn apply(&self, meter: &mut MeterTarget) -> Result<(), TargetError> {
        if let Some(t) = self.transport {
            meter.main.transport = t;
        }
        if let Some(timeout) = self.request_timeout {
            meter.main.request_timeout = timeout;
        }
        if let Some(password) = &self.password {
            let sap = self
                .client_sap
                .or(meter.lls.as_ref().map(|l| l.sap))
                .unwrap_or(MANAGEMENT_CLIENT);
            meter.lls = Some(LlsClient {
                sap,
                password: password.clone().into_bytes(),
            });
            meter.main = meter.client(ClientKind::Lls).expect("just set");
        } else if let Some(keys) = &self.hls {
            let sap = self
                .client_sap
                .or(keys.client)
                .or(meter.hls.as_ref().map(|h| h.sap))
                .ok_or_else(|| {
                    TargetError::Flags(format!(
                        "{}: --hls-keys needs the HLS client's SAP: --client N, or client = N in the keys file",
                        meter.main.name
                    ))
                })?;
            meter.hls = Some(HlsClient {
                sap,
                keys: keys.keys.clone(),
                system_title: keys.system_title,
            });
            meter.main = meter.client(ClientKind::Hls).expect("just set");
        } else if let Some(sap) = self.client_sap {
            meter.main.client_sap = sap;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::target::{url, Auth};

    fn meter() -> MeterTarget {
        MeterTarget::bare(url::parse("tcp://127.0.0.1:4059").unwrap())
    }

    #[test]
    fn a_password_makes_the_lls_client_the_main_one() {
        let mut m = meter();
        Overrides {
            password: Some("pw".into()),
            ..Overrides::default()
        }
        .apply(&mut m)
        .unwrap();
        assert_eq!(m.main.client_sap, MANAGEMENT_CLIENT);
        assert!(matches!(&m.main.auth, Auth::Lls(p) if p == b"pw"));
    }

    #[test]
    fn hls_keys_need_a_client_sap_from_somewhere() {
        let keys = HlsKeys {
            client: None,
            keys: dlms::security::Keys {
                encryption: [1; 16],
                authentication: [2; 16],
            },
            system_title: [3; 8],
        };
        let mut m = meter();
        let mut flags = Overrides {
            hls: Some(keys),
            ..Overrides::default()
        };
        assert!(flags.apply(&mut m).is_err());
        flags.client_sap = Some(48);
        flags.transport = Some(Transport::Hdlc);
        flags.apply(&mut m).unwrap();
        assert_eq!((m.main.client_sap, m.main.transport), (48, Transport::Hdlc));
        assert!(matches!(m.main.auth, Auth::HlsGmac { .. }));
    }
}
