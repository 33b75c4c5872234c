#include <gtest/gtest.h>

#include <ostream>
#include <string>

#include "controllers/common/uri.h"

namespace kiln::controllers {
namespace {

constexpr UriPolicy kHttpAllowed{.allow_http = true};

struct Accepted {
  std::string name;
  std::string uri;
  UriPolicy policy;
  UriScheme scheme;
  std::string authority;  // claim, bucket or host, by scheme; "" for file://
  std::string path;
  std::string local_path;
};

void PrintTo(const Accepted& c, std::ostream* os) { *os << c.uri; }

class AcceptedUri : public ::testing::TestWithParam<Accepted> {};

TEST_P(AcceptedUri, SplitsIntoItsParts) {
  const Accepted& c = GetParam();
  auto parsed = parse_storage_uri(c.uri, c.policy);
  ASSERT_TRUE(parsed.ok()) << parsed.error().message();
  EXPECT_EQ(parsed->scheme, c.scheme);
  EXPECT_EQ(parsed->claim, c.scheme == UriScheme::kPvc ? c.authority : "");
  EXPECT_EQ(parsed->bucket,
            c.scheme == UriScheme::kS3 || c.scheme == UriScheme::kGs ? c.authority : "");
  EXPECT_EQ(parsed->host,
            c.scheme == UriScheme::kHttps || c.scheme == UriScheme::kHttp ? c.authority : "");
  EXPECT_EQ(parsed->path, c.path);
  EXPECT_EQ(parsed->local_path, c.local_path);
  EXPECT_EQ(parsed->remote(), c.local_path.empty());
  EXPECT_EQ(parsed->on_claim(), c.scheme == UriScheme::kPvc);
}

INSTANTIATE_TEST_SUITE_P(
    Forms, AcceptedUri,
    ::testing::Values(
        Accepted{"PvcFile", "pvc://flights-data/features/train.csv", {}, UriScheme::kPvc,
                 "flights-data", "features/train.csv",
                 "/mnt/kiln/flights-data/features/train.csv"},
        Accepted{"PvcRoot", "pvc://models", {}, UriScheme::kPvc, "models", "", "/mnt/kiln/models"},
        Accepted{"PvcDirectoryLosesTrailingSlash", "pvc://models/v2/", {}, UriScheme::kPvc,
                 "models", "v2", "/mnt/kiln/models/v2"},
        Accepted{"FileAbsolute", "file:///models/m.json", {}, UriScheme::kFile, "",
                 "/models/m.json", "/models/m.json"},
        Accepted{"FileDirectory", "file:///opt/models/v2/", {}, UriScheme::kFile, "",
                 "/opt/models/v2/", "/opt/models/v2/"},
        Accepted{"S3Key", "s3://my-bucket/models/m.json", {}, UriScheme::kS3, "my-bucket",
                 "models/m.json", ""},
        Accepted{"S3DottedBucket", "s3://my.bucket.1/k", {}, UriScheme::kS3, "my.bucket.1", "k",
                 ""},
        Accepted{"S3BucketOnly", "s3://bucket", {}, UriScheme::kS3, "bucket", "", ""},
        Accepted{"S3Prefix", "s3://bucket/runs/", {}, UriScheme::kS3, "bucket", "runs/", ""},
        Accepted{"S3KeyKeptAsWritten", "s3://bucket/a%20b/c", {}, UriScheme::kS3, "bucket",
                 "a%20b/c", ""},
        Accepted{"DotsInsideASegmentAreNotTraversal", "s3://bucket/.../a..b/.hidden", {},
                 UriScheme::kS3, "bucket", ".../a..b/.hidden", ""},
        Accepted{"GsUnderscoreBucket", "gs://my_bucket/data/train.csv", {}, UriScheme::kGs,
                 "my_bucket", "data/train.csv", ""},
        Accepted{"Https", "https://models.example.com/m.json", {}, UriScheme::kHttps,
                 "models.example.com", "/m.json", ""},
        Accepted{"HttpsWithoutPath", "https://example.com", {}, UriScheme::kHttps, "example.com",
                 "/", ""},
        Accepted{"HttpsPresignedQuery",
                 "https://b.s3.amazonaws.com:8443/k.json?X-Amz-Credential=a%2Fb&X-Amz-Signature=f",
                 {}, UriScheme::kHttps, "b.s3.amazonaws.com:8443",
                 "/k.json?X-Amz-Credential=a%2Fb&X-Amz-Signature=f", ""},
        Accepted{"HttpsQueryWithoutPath", "https://example.com?x=1", {}, UriScheme::kHttps,
                 "example.com", "/?x=1", ""},
        Accepted{"HttpsIpv4", "https://10.0.0.5/m", {}, UriScheme::kHttps, "10.0.0.5", "/m", ""},
        Accepted{"HttpsIpv6", "https://[::1]:9000/m", {}, UriScheme::kHttps, "[::1]:9000", "/m",
                 ""},
        Accepted{"HttpWhenAllowed", "http://minio.kiln-system.svc:9000/b/k", kHttpAllowed,
                 UriScheme::kHttp, "minio.kiln-system.svc:9000", "/b/k", ""}),
    [](const auto& info) { return info.param.name; });

struct Rejected {
  std::string name;
  std::string uri;
  UriPolicy policy;
  std::string message;
};

void PrintTo(const Rejected& c, std::ostream* os) { *os << c.uri.substr(0, 80); }

class RejectedUri : public ::testing::TestWithParam<Rejected> {};

TEST_P(RejectedUri, IsInvalidInputNamingTheProblem) {
  const Rejected& c = GetParam();
  auto parsed = parse_storage_uri(c.uri, c.policy);
  ASSERT_FALSE(parsed.ok()) << c.uri << " was accepted";
  EXPECT_EQ(parsed.error().category(), ErrorCategory::kInvalidInput);
  EXPECT_EQ(parsed.error().message(), c.message);
}

INSTANTIATE_TEST_SUITE_P(
    Problems, RejectedUri,
    ::testing::Values(
        Rejected{"Empty", "", {}, "empty URI: expected s3://, gs://, https://, pvc:// or file://"},
        Rejected{"Traversal", "s3://b-1/../k", {},
                 "s3://b-1/../k: a \"..\" segment is not allowed"},
        Rejected{"TraversalAtTheEnd", "pvc://models/a/..", {},
                 "pvc://models/a/..: a \"..\" segment is not allowed"},
        Rejected{"DotSegment", "file:///models/./m.json", {},
                 "file:///models/./m.json: a \".\" segment is not allowed"},
        Rejected{"PercentEncodedTraversal", "s3://bucket/%2e%2e/k", {},
                 "s3://bucket/%2e%2e/k: a \"..\" segment is not allowed (percent-encoded as "
                 "\"%2e%2e\")"},
        Rejected{"MixedCaseEncodedTraversal", "pvc://models/.%2E/etc", {},
                 "pvc://models/.%2E/etc: a \"..\" segment is not allowed (percent-encoded as "
                 "\".%2E\")"},
        Rejected{"TraversalBehindAnEncodedSlash", "https://h.example/a%2F..%2Fb", {},
                 "https://h.example/a%2F..%2Fb: a \"..\" segment is not allowed (percent-encoded "
                 "as \"a%2F..%2Fb\")"},
        Rejected{"HttpsTraversal", "https://h.example/a/../b", {},
                 "https://h.example/a/../b: a \"..\" segment is not allowed"},
        // A traversal is named before the bucket's own problem (too short).
        Rejected{"TraversalIsNamedBeforeTheBucket", "s3://b/../k", {},
                 "s3://b/../k: a \"..\" segment is not allowed"},
        Rejected{"EncodedNul", "s3://bucket/a%00b", {},
                 "s3://bucket/a%00b: a NUL byte (%00) is not allowed"},
        Rejected{"EmptySegment", "pvc://models//etc/passwd", {},
                 "pvc://models//etc/passwd: an empty path segment (\"//\") is not allowed"},
        Rejected{"EmptyBucket", "s3:///k", {}, "s3:///k: no bucket: expected s3://<bucket>/<key>"},
        Rejected{"EmptyGsBucket", "gs://", {}, "gs://: no bucket: expected gs://<bucket>/<key>"},
        Rejected{"ShortBucket", "s3://ab/k", {},
                 "s3://ab/k: bucket \"ab\" must be 3-63 characters long"},
        Rejected{"LongBucket", "s3://" + std::string(64, 'b') + "/k", {},
                 "s3://" + std::string(64, 'b') + "/k: bucket \"" + std::string(64, 'b') +
                     "\" must be 3-63 characters long"},
        Rejected{"UpperCaseBucket", "s3://MyBucket/k", {},
                 "s3://MyBucket/k: bucket \"MyBucket\" may hold only a-z, 0-9, '-' and '.'"},
        Rejected{"UnderscoreInS3Bucket", "s3://my_bucket/k", {},
                 "s3://my_bucket/k: bucket \"my_bucket\" may hold only a-z, 0-9, '-' and '.'"},
        Rejected{"BucketEndingInDash", "gs://bucket-/k", {},
                 "gs://bucket-/k: bucket \"bucket-\" must start and end with a letter or digit"},
        Rejected{"BucketWithDoubleDot", "s3://a..b/k", {},
                 "s3://a..b/k: bucket \"a..b\" may not hold \"..\""},
        Rejected{"BucketThatIsAnAddress", "s3://10.0.0.1/k", {},
                 "s3://10.0.0.1/k: bucket \"10.0.0.1\" is an IP address"},
        Rejected{"EmptyClaim", "pvc:///x", {}, "pvc:///x: no claim: expected pvc://<claim>/<path>"},
        Rejected{"ClaimNotADnsLabel", "pvc://Flights_Data/x", {},
                 "pvc://Flights_Data/x: claim \"Flights_Data\" is not a DNS label (RFC 1123: at "
                 "most 63 of a-z, 0-9 and '-', starting and ending with a letter or digit)"},
        Rejected{"DottedClaim", "pvc://data.v1/x", {},
                 "pvc://data.v1/x: claim \"data.v1\" is not a DNS label (RFC 1123: at most 63 of "
                 "a-z, 0-9 and '-', starting and ending with a letter or digit)"},
        Rejected{"LongClaim", "pvc://" + std::string(64, 'c'), {},
                 "pvc://" + std::string(64, 'c') + ": claim \"" + std::string(64, 'c') +
                     "\" is not a DNS label (RFC 1123: at most 63 of a-z, 0-9 and '-', starting "
                     "and ending with a letter or digit)"},
        Rejected{"UserInfo", "s3://key:secret@bucket/k", {},
                 "s3://key:secret@bucket/k: user info (\"...@\") is not allowed: credentials come "
                 "from a Secret (storage.secretRef) or the pod's identity"},
        Rejected{"HttpsUserInfo", "https://u:p@h.example/m", {},
                 "https://u:p@h.example/m: user info (\"...@\") is not allowed: credentials come "
                 "from a Secret (storage.secretRef) or the pod's identity"},
        Rejected{"HttpWithoutPolicy", "http://h.example/m", {},
                 "http://h.example/m: http:// is not allowed (use https://, or allow http with "
                 "the chart value storage.allowHttp)"},
        Rejected{"UnknownScheme", "ftp://bucket/x", {},
                 "ftp://bucket/x: scheme \"ftp\" is not supported: expected s3://, gs://, "
                 "https://, pvc:// or file://"},
        Rejected{"UpperCaseScheme", "S3://bucket/x", {},
                 "S3://bucket/x: scheme \"S3\" is not supported: expected s3://, gs://, "
                 "https://, pvc:// or file://"},
        Rejected{"NoScheme", "/models/m.json", {},
                 "/models/m.json: no scheme: expected s3://, gs://, https://, pvc:// or file://"},
        Rejected{"NoAuthority", "s3:bucket/k", {}, "s3:bucket/k: expected s3://<bucket>/<key>"},
        Rejected{"FileWithoutAuthority", "file:/models/m.json", {},
                 "file:/models/m.json: expected file:///<absolute path>"},
        Rejected{"FileWithAHost", "file://models/m.json", {},
                 "file://models/m.json: file:// takes no host: expected file:///<absolute path>"},
        Rejected{"FileWithoutPath", "file://", {},
                 "file://: no path: expected file:///<absolute path>"},
        Rejected{"FileRoot", "file:///", {}, "file:///: no path: expected file:///<absolute path>"},
        Rejected{"NotAUri", "s3://bucket/my model.json", {},
                 "s3://bucket/my model.json: not a URI (RFC 3986): byte 32 at offset 14"},
        Rejected{"QueryOnS3", "s3://bucket/k?versionId=3", {},
                 "s3://bucket/k?versionId=3: a query (?...) is not allowed on s3://"},
        Rejected{"Fragment", "https://h.example/m#top", {},
                 "https://h.example/m#top: a fragment (#...) is not allowed"},
        Rejected{"PortOnPvc", "pvc://models:80/m", {},
                 "pvc://models:80/m: a port is not allowed on pvc://"},
        Rejected{"PortOutOfRange", "https://h.example:70000/m", {},
                 "https://h.example:70000/m: port \"70000\" is not in 1-65535"},
        Rejected{"EmptyPort", "https://h.example:/m", {},
                 "https://h.example:/m: port \"\" is not in 1-65535"},
        Rejected{"EmptyHost", "https:///m", {},
                 "https:///m: no host: expected https://<host>/<path>"},
        Rejected{"HostNotADnsName", "https://a%41b/m", {},
                 "https://a%41b/m: host \"a%41b\" is not a DNS name or an IP address"}),
    [](const auto& info) { return info.param.name; });

TEST(ParseStorageUri, RefusesAMebibyteQuicklyWithAShortMessage) {
  const std::string huge = "s3://bucket/" + std::string(1 << 20, 'a');
  auto parsed = parse_storage_uri(huge);
  ASSERT_FALSE(parsed.ok());
  EXPECT_EQ(parsed.error().category(), ErrorCategory::kInvalidInput);
  EXPECT_NE(parsed.error().message().find("longer than 2048 bytes"), std::string::npos);
  EXPECT_LT(parsed.error().message().size(), 200u);
}

TEST(ParseStorageUri, AcceptsAUriOfTheCrdMaximumWithManySegments) {
  std::string uri = "s3://bucket";
  while (uri.size() + 2 <= 2048) uri += "/a";
  ASSERT_EQ(uri.size(), 2047u);
  auto parsed = parse_storage_uri(uri);
  ASSERT_TRUE(parsed.ok()) << parsed.error().message();
  EXPECT_EQ(parsed->path.size(), uri.size() - std::string("s3://bucket/").size());
  EXPECT_FALSE(parse_storage_uri(uri + "/b").ok());  // 2049 bytes
}

TEST(ParseStorageUri, RefusesANulByteInTheText) {
  const std::string with_nul("s3://bucket/a\0b", 15);
  auto parsed = parse_storage_uri(with_nul);
  ASSERT_FALSE(parsed.ok());
  EXPECT_NE(parsed.error().message().find("not a URI"), std::string::npos);
}

// Every prefix of these inputs is either a URI or invalid input; none crashes or is another kind
// of error.
TEST(ParseStorageUri, AnswersEveryPrefixOfTrickyInputs) {
  for (const std::string full :
       {"https://u:p@[::1]:65535/a/%2e%2E/b?x=%00#f", "pvc://c-1/a//b/./../%2f",
        "s3://b.b-b/k%2F..%2F%", "gs://_/x", "file:///%", "http://[v1.x]/a"}) {
    for (std::size_t n = 0; n <= full.size(); ++n) {
      auto parsed = parse_storage_uri(full.substr(0, n), kHttpAllowed);
      if (!parsed.ok()) {
        EXPECT_EQ(parsed.error().category(), ErrorCategory::kInvalidInput) << full.substr(0, n);
      }
    }
  }
}

TEST(StorageUriBasename, IsTheLastNonEmptySegmentWithoutTheQuery) {
  EXPECT_EQ(parse_storage_uri("s3://bucket/models/m.json")->basename(), "m.json");
  EXPECT_EQ(parse_storage_uri("https://h.example/a/m.onnx?sig=x/y")->basename(), "m.onnx");
  EXPECT_EQ(parse_storage_uri("pvc://models/v2/")->basename(), "v2");
  EXPECT_EQ(parse_storage_uri("s3://bucket/runs/")->basename(), "runs");
  EXPECT_EQ(parse_storage_uri("file:///models/m.json")->basename(), "m.json");
  EXPECT_EQ(parse_storage_uri("s3://bucket")->basename(), "");
  EXPECT_EQ(parse_storage_uri("https://h.example")->basename(), "");
}

TEST(JoinUri, PutsExactlyOneSlashBetween) {
  EXPECT_EQ(join_uri("s3://bucket/out/", "model.json"), "s3://bucket/out/model.json");
  EXPECT_EQ(join_uri("s3://bucket/out", "/model.json"), "s3://bucket/out/model.json");
  EXPECT_EQ(join_uri("s3://bucket//", "//a/b"), "s3://bucket/a/b");
  EXPECT_EQ(join_uri("pvc://models", "v3/profile.json"), "pvc://models/v3/profile.json");
  const auto joined = parse_storage_uri(join_uri("gs://bucket/runs/", "7/model.json"));
  ASSERT_TRUE(joined.ok());
  EXPECT_EQ(joined->path, "runs/7/model.json");
}

}  // namespace
}  // namespace kiln::controllers
