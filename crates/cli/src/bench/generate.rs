//! Realistic CloudTrail records, generated deterministically.

use super::*;

/// xorshift64*: deterministic, dependency-free.
pub(crate) struct Rng(pub(crate) u64);

impl Rng {
    pub(crate) fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    /// Skewed towards small values, like real API call mixes.
    pub(crate) fn skewed(&mut self, n: u64) -> u64 {
        let a = self.below(n);
        self.below(a + 1)
    }
}

pub(super) const SERVICES: &[&str] = &[
    "ec2",
    "s3",
    "iam",
    "sts",
    "kms",
    "lambda",
    "dynamodb",
    "cloudtrail",
    "logs",
    "ssm",
    "rds",
    "ecs",
];
const VERBS: &[&str] = &[
    "Describe", "Get", "List", "Create", "Update", "Delete", "Put", "Start", "Stop", "Attach",
    "Detach", "Assume",
];
const NOUNS: &[&str] = &[
    "Instances",
    "Bucket",
    "Role",
    "Policy",
    "Key",
    "Function",
    "Table",
    "Trail",
    "LogGroup",
    "Parameter",
    "Cluster",
    "Service",
    "Volume",
    "Snapshot",
    "SecurityGroup",
    "User",
    "AccessKey",
    "Stack",
    "Subnet",
    "Vpc",
    "Image",
    "Tags",
    "Alias",
    "Secret",
    "Queue",
];

pub(crate) fn event_name(i: u64) -> String {
    let v = VERBS[(i % VERBS.len() as u64) as usize];
    let n = NOUNS[((i / VERBS.len() as u64) % NOUNS.len() as u64) as usize];
    format!("{v}{n}")
}

/// One realistic record (about 1.1 KB) at `time_s` (Unix seconds).
pub(crate) fn record(rng: &mut Rng, seq: u64, time_s: i64) -> String {
    let svc = SERVICES[rng.skewed(SERVICES.len() as u64) as usize];
    let name_i = rng.skewed(300);
    let name = event_name(name_i);
    let user = rng.skewed(10_000);
    let read_only =
        name.starts_with("Describe") || name.starts_with("Get") || name.starts_with("List");
    let t = chrono::DateTime::from_timestamp(time_s, 0)
        .unwrap_or_default()
        .format("%Y-%m-%dT%H:%M:%SZ");
    let ip = format!(
        "{}.{}.{}.{}",
        10 + rng.below(200),
        rng.below(256),
        rng.below(256),
        rng.below(256)
    );
    let id = format!(
        "{:08x}-{:04x}-4{:03x}-a{:03x}-{:012x}",
        rng.next() as u32,
        rng.below(65536),
        rng.below(4096),
        rng.below(4096),
        seq
    );
    let err = if rng.below(30) == 0 {
        r#","errorCode":"AccessDenied","errorMessage":"User is not authorized to perform this operation""#
    } else {
        ""
    };
    let resources = if rng.below(3) == 0 {
        format!(
            r#","resources":[{{"accountId":"123456789012","type":"AWS::IAM::Role","ARN":"arn:aws:iam::123456789012:role/app-role-{}"}}]"#,
            rng.below(500)
        )
    } else {
        String::new()
    };
    format!(
        concat!(
            r#"{{"eventVersion":"1.08","userIdentity":{{"type":"IAMUser","principalId":"AIDA{user:016}","arn":"arn:aws:iam::123456789012:user/user-{user}","#,
            r#""accountId":"123456789012","accessKeyId":"AKIA{user:016}","userName":"user-{user}","sessionContext":{{"sessionIssuer":{{}},"webIdFederationData":{{}},"#,
            r#""attributes":{{"creationDate":"{t}","mfaAuthenticated":"false"}}}}}},"eventTime":"{t}","eventSource":"{svc}.amazonaws.com","eventName":"{name}","#,
            r#""awsRegion":"us-east-1","sourceIPAddress":"{ip}","userAgent":"aws-cli/2.15.0 Python/3.11.6 Linux/6.1 exe/x86_64.debian.12 prompt/off command/{svc}.{name}","#,
            r#""requestParameters":{{"maxResults":100,"filterSet":{{"items":[{{"name":"tag:team","valueSet":{{"items":[{{"value":"platform-{user}"}}]}}}}]}}}},"responseElements":null{err},"#,
            r#""requestID":"{rid:016x}","eventID":"{id}","readOnly":{ro},"eventType":"AwsApiCall","managementEvent":true,"recipientAccountId":"123456789012","#,
            r#""eventCategory":"Management","tlsDetails":{{"tlsVersion":"TLSv1.3","cipherSuite":"TLS_AES_128_GCM_SHA256","clientProvidedHostHeader":"{svc}.us-east-1.amazonaws.com"}}{resources}}}"#
        ),
        user = user,
        t = t,
        svc = svc,
        name = name,
        ip = ip,
        err = err,
        rid = rng.next(),
        id = id,
        ro = read_only,
        resources = resources,
    )
}

/// Writes `n` records in `{"Records":[…]}` .json.gz files of `per_file` records, spread evenly
/// over `days` days ending now. Returns the files and their total compressed size.
pub(super) fn generate(
    dir: &Path,
    n: usize,
    per_file: usize,
    days: i64,
    seed: u64,
) -> anyhow::Result<(Vec<(PathBuf, u64)>, u64)> {
    std::fs::create_dir_all(dir)?;
    let mut rng = Rng(seed | 1);
    let end = chrono::Utc::now().timestamp() - 60;
    let span = days * 86_400;
    let mut files = Vec::new();
    let mut total = 0;
    let mut written = 0usize;
    let mut f = 0;
    while written < n {
        let count = per_file.min(n - written);
        let path = dir.join(format!("123456789012_CloudTrail_us-east-1_{f:08}.json.gz"));
        let file = std::fs::File::create(&path)?;
        let mut gz = flate2::write::GzEncoder::new(
            std::io::BufWriter::new(file),
            flate2::Compression::new(6),
        );
        gz.write_all(b"{\"Records\":[")?;
        for j in 0..count {
            let k = (written + j) as i64;
            let t = end - span + (k * span) / n as i64;
            if j > 0 {
                gz.write_all(b",")?;
            }
            gz.write_all(record(&mut rng, (written + j) as u64, t).as_bytes())?;
        }
        gz.write_all(b"]}")?;
        gz.finish()?.flush()?;
        let size = std::fs::metadata(&path)?.len();
        total += size;
        files.push((path, size));
        written += count;
        f += 1;
    }
    Ok((files, total))
}
