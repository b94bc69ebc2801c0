//! `ha_node::netlink` against the kernel: addresses, routes, stale-state cleaning and
//! errors by errno, in a network namespace of the test thread's own (`unshare`), so
//! the host is untouched. Needs root (CAP_SYS_ADMIN and CAP_NET_ADMIN): skipped,
//! with a note on stderr, where the namespace cannot be made.

use std::net::Ipv6Addr;

use ha_node::netlink::{
    IFAPROT_HA_NODE, KernelOp, KernelRoute, Netlink, NetlinkError, RTPROT_HA_NODE, spawn_installer,
};
use ospfv3::Ipv6Prefix;

/// Runs `f` on a thread of its own in a new network namespace with a current-thread
/// runtime; `None` when the namespace cannot be made (not root).
fn in_netns<F, Fut>(f: F) -> Option<()>
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()>,
{
    std::thread::spawn(move || {
        if let Err(e) = nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET) {
            eprintln!("skipped: no network namespace of our own ({e}); needs root");
            return None;
        }
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(f());
        Some(())
    })
    .join()
    .expect("test thread panicked")
}

fn a(s: &str) -> Ipv6Addr {
    s.parse().unwrap()
}

#[test]
fn addresses_routes_and_errors_by_errno() {
    let ran = in_netns(|| async {
        let nl = Netlink::open().expect("rtnetlink socket");
        let lo = nl.link_index("lo").await.unwrap().expect("lo");
        assert_eq!(nl.link_index("no-such-link").await.unwrap(), None);
        // lo up: a new namespace starts with it down.
        nl.set_link_up(lo).await.unwrap();

        // An address twice: the second add (EEXIST) is not an error; removal twice
        // neither (EADDRNOTAVAIL).
        let any = a("2001:db8:aa::1");
        nl.add_address(lo, any, 128).await.unwrap();
        nl.add_address(lo, any, 128).await.unwrap();
        nl.del_address(lo, any, 128).await.unwrap();
        nl.del_address(lo, any, 128).await.unwrap();

        // A route of ours, replaced, removed twice (ESRCH the second time).
        let p = Ipv6Prefix::new(a("2001:db8:5::"), 64);
        let r = KernelRoute {
            prefix: p,
            next_hops: vec![(None, lo)],
            src: None,
        };
        nl.replace_route(&r).await.unwrap();
        nl.replace_route(&r).await.unwrap();
        nl.delete_route(p).await.unwrap();
        nl.delete_route(p).await.unwrap();

        // A route over an interface that does not exist: refused, with the errno.
        let bad = KernelRoute {
            prefix: p,
            next_hops: vec![(None, 9999)],
            src: None,
        };
        match nl.replace_route(&bad).await {
            Err(NetlinkError::Kernel { errno, .. }) => assert_eq!(errno, 19, "ENODEV"),
            other => panic!("expected ENODEV, got {other:?}"),
        }

        // Stale state of an earlier run: two routes of ours (protocol 89), an address
        // we added (marked IFA_PROTO 89) and one we list; the kernel's ::1 stays.
        let marked = a("2001:db8:cc::1");
        nl.add_address(lo, marked, 128).await.unwrap();
        for q in ["2001:db8:6::", "2001:db8:7::"] {
            nl.replace_route(&KernelRoute {
                prefix: Ipv6Prefix::new(a(q), 64),
                next_hops: vec![(None, lo)],
                src: None,
            })
            .await
            .unwrap();
        }
        let listed = a("2001:db8:bb::1");
        nl.add_address(lo, listed, 128).await.unwrap();
        let (routes, addrs, links) = nl
            .clean_stale(lo, &[(listed, 128)], &["no-such-tap".to_string()])
            .await
            .unwrap();
        assert_eq!(routes, 2);
        eprintln!("clean_stale removed {routes} routes, {addrs} addresses, {links} links");
        // The marked one is recognised on kernels with address protocols (6.3+) only.
        assert!(addrs == 2 || addrs == 1, "{addrs}");
        assert_eq!(links, 0);
        assert_eq!(
            nl.flush_routes().await.unwrap(),
            0,
            "routes of protocol {RTPROT_HA_NODE} left"
        );
        assert_eq!(
            nl.flush_addresses(lo, &[]).await.unwrap(),
            0,
            "addresses of protocol {IFAPROT_HA_NODE} left"
        );

        // The installer: a batch applied off the caller, reported back.
        let (mut inst, mut reports) = spawn_installer(nl.clone());
        inst.submit(KernelOp::AddAddress {
            ifindex: lo,
            addr: any,
            len: 128,
        });
        inst.submit(KernelOp::ReplaceRoute(r.clone()));
        inst.submit(KernelOp::ReplaceRoute(bad.clone()));
        inst.flush();
        let report = reports.recv().await.unwrap();
        inst.note_report(&report);
        assert_eq!(
            report.results.len(),
            2,
            "the bad route replaced the good one while queued"
        );
        assert!(report.results[0].1.is_ok());
        assert_eq!(report.results[1].1.as_ref().unwrap_err().errno(), Some(19));
        assert!(inst.is_idle());
        assert_eq!(
            (inst.stats().ok, inst.stats().failed, inst.stats().coalesced),
            (1, 1, 1)
        );
    });
    if ran.is_none() {
        eprintln!("netlink kernel test skipped");
    }
}
