//! An S3-compatible server for tests: `OKRFLOW_TEST_S3` names it as `ENDPOINT/BUCKET` (default
//! `http://127.0.0.1:3393/okrflow-test`, the moto server `.ci/s3-server` starts on loopback,
//! with the test keys `test`/`test`). Each test takes a prefix of its own in the bucket, so runs
//! and tests never see each other's objects.

use super::StorageUrl;

/// The environment variable naming the test server and bucket.
pub const ENV: &str = "OKRFLOW_TEST_S3";
const DEFAULT: &str = "http://127.0.0.1:3393/okrflow-test";

/// A fresh prefix in the test bucket, with the `AWS_*` variables that reach it.
#[derive(Clone, Debug)]
pub struct TestBucket {
    pub url: StorageUrl,
    pub endpoint: String,
    pub bucket: String,
    pub vars: Vec<(String, String)>,
}

impl TestBucket {
    pub fn new() -> TestBucket {
        let named = std::env::var(ENV).ok().filter(|v| !v.is_empty()).unwrap_or_else(|| DEFAULT.to_string());
        let (endpoint, bucket) = named
            .trim_end_matches('/')
            .rsplit_once('/')
            .unwrap_or_else(|| panic!("{ENV}={named}: expected ENDPOINT/BUCKET"));
        let prefix = format!("test-{}", &super::new_file_id()[..12]);
        TestBucket::at(endpoint, bucket, &prefix)
    }

    /// The same server, another bucket (one that may not exist).
    pub fn with_bucket(&self, bucket: &str) -> TestBucket {
        TestBucket::at(&self.endpoint, bucket, "p")
    }

    fn at(endpoint: &str, bucket: &str, prefix: &str) -> TestBucket {
        let vars = [
            ("AWS_ENDPOINT", endpoint),
            ("AWS_ALLOW_HTTP", "true"),
            ("AWS_ACCESS_KEY_ID", "test"),
            ("AWS_SECRET_ACCESS_KEY", "test"),
            ("AWS_REGION", "us-east-1"),
        ]
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .to_vec();
        TestBucket {
            url: StorageUrl::S3 { bucket: bucket.into(), prefix: prefix.into() },
            endpoint: endpoint.into(),
            bucket: bucket.into(),
            vars,
        }
    }
}

impl Default for TestBucket {
    fn default() -> Self {
        TestBucket::new()
    }
}
