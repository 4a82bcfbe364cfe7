//! An authoritative DNS server for one zone, in-process on a loopback UDP port, whose
//! records a test changes while it runs (hickory-server's in-memory zone).

#![allow(dead_code)]

use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use hickory_server::Server;
use hickory_server::proto::rr::rdata::{A, AAAA, SOA, SRV};
use hickory_server::proto::rr::{LowerName, Name, RData, Record, RecordType, RrKey};
use hickory_server::store::in_memory::InMemoryZoneHandler;
use hickory_server::zone_handler::{AxfrPolicy, Catalog, ZoneHandler, ZoneType};

/// The zone every test name lives in.
pub const ZONE: &str = "svc.test.";

pub struct Dns {
    pub addr: SocketAddr,
    zone: Arc<InMemoryZoneHandler>,
    serial: AtomicU32,
    server: Option<Server<Catalog>>,
}

impl Dns {
    /// Serves `ZONE` (with only its SOA) on a fresh loopback port.
    pub async fn start() -> Dns {
        let origin = Name::from_str(ZONE).unwrap();
        let zone = InMemoryZoneHandler::empty(origin.clone(), ZoneType::Primary, AxfrPolicy::Deny);
        let soa = SOA::new(
            Name::from_str("ns.svc.test.").unwrap(),
            Name::from_str("admin.svc.test.").unwrap(),
            1,
            60,
            60,
            60,
            0,
        );
        assert!(
            zone.upsert(Record::from_rdata(origin.clone(), 0, RData::SOA(soa)), 1)
                .await
        );
        let zone = Arc::new(zone);
        let mut catalog = Catalog::new();
        catalog.upsert(
            LowerName::new(&origin),
            vec![zone.clone() as Arc<dyn ZoneHandler>],
        );
        let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = socket.local_addr().unwrap();
        let mut server = Server::new(catalog);
        server.register_socket(socket);
        Dns {
            addr,
            zone,
            serial: AtomicU32::new(1),
            server: Some(server),
        }
    }

    fn serial(&self) -> u32 {
        self.serial.fetch_add(1, Ordering::Relaxed) + 1
    }

    fn name(name: &str) -> Name {
        Name::from_str(&format!("{name}.{ZONE}")).unwrap()
    }

    /// Replaces the `A` and `AAAA` records of `name` (relative to the zone).
    pub async fn set_ips(&self, name: &str, ips: &[&str]) {
        let owner = Self::name(name);
        self.clear(&owner, RecordType::A).await;
        self.clear(&owner, RecordType::AAAA).await;
        for ip in ips {
            let data = match ip.parse::<IpAddr>().unwrap() {
                IpAddr::V4(v4) => RData::A(A(v4)),
                IpAddr::V6(v6) => RData::AAAA(AAAA(v6)),
            };
            let serial = self.serial();
            assert!(
                self.zone
                    .upsert(Record::from_rdata(owner.clone(), 0, data), serial)
                    .await
            );
        }
    }

    /// Replaces the `SRV` records of `name`: (priority, weight, port, target relative to
    /// the zone).
    pub async fn set_srv(&self, name: &str, records: &[(u16, u16, u16, &str)]) {
        let owner = Self::name(name);
        self.clear(&owner, RecordType::SRV).await;
        for (priority, weight, port, target) in records {
            let data = RData::SRV(SRV::new(*priority, *weight, *port, Self::name(target)));
            let serial = self.serial();
            assert!(
                self.zone
                    .upsert(Record::from_rdata(owner.clone(), 0, data), serial)
                    .await
            );
        }
    }

    async fn clear(&self, owner: &Name, record_type: RecordType) {
        let key = RrKey::new(LowerName::new(owner), record_type);
        self.zone.records_mut().await.remove(&key);
    }

    /// Stops answering: queries time out from now on.
    pub async fn stop(&mut self) {
        if let Some(mut server) = self.server.take() {
            let _ = server.shutdown_gracefully().await;
        }
    }
}
