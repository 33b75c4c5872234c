// Peak memory of bodies built to make the infer path allocate far more than they carry (issue 16:
// "a 545 KiB body ... peak RSS reached 1.6 GB"). Each case runs in a forked child, so the peak
// resident set (VmHWM in /proc/self/status) it reports is its own: the child loads the model,
// builds the body, reads VmHWM, sends the body through InferenceService::handle() as a transport
// would, reads VmHWM again and reports the growth and the status code through a pipe.

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <functional>
#include <string>

#include "model_fixtures.h"
#include "runtime/inference_service.h"
#include "runtime/xgboost_backend.h"

namespace kiln::runtime {
namespace {

using testing::model_fixtures;

constexpr long kLimitKib = 64 * 1024;  // The bound of issue 16: 64 MiB over idle.

// VmHWM of this process in KiB; -1 when /proc has none.
long peak_rss_kib() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::stol(line.substr(6));
  }
  return -1;
}

struct Measured {
  int status = 0;
  long growth_kib = -1;
};

// Runs `make_request()`'s request through a fresh service in a child process.
Measured measure(const std::function<HttpRequest(std::string&, std::string&)>& make_request) {
  const std::string model = model_fixtures().path("binary.json");  // Trained here, not in the child.
  int fds[2];
  if (pipe(fds) != 0) return {};
  const pid_t pid = fork();
  if (pid == 0) {
    close(fds[0]);
    metrics::Registry registry;
    InferenceService service(ServiceOptions{}, registry);
    service.add_model("cancer", "1", load_xgboost(model), 0.1);
    std::string body, header;
    const HttpRequest request = make_request(body, header);
    // Warm up the path with a small valid request, so what is measured is the body's own cost.
    service.handle({"POST", "/v2/models/cancer/infer",
                    R"({"inputs":[{"name":"x","shape":[1,20],"datatype":"FP32","data":[)"
                    "0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0]}]})"});
    const long before = peak_rss_kib();
    const HttpResponse response = service.handle(request);
    const long after = peak_rss_kib();
    const long out[2] = {response.status, after < 0 || before < 0 ? -1 : after - before};
    [[maybe_unused]] auto written = write(fds[1], out, sizeof out);
    _exit(0);
  }
  close(fds[1]);
  long in[2] = {0, -1};
  const auto got = read(fds[0], in, sizeof in);
  close(fds[0]);
  int wstatus = 0;
  waitpid(pid, &wstatus, 0);
  if (got != sizeof in) return {};
  return {static_cast<int>(in[0]), in[1]};
}

// One input of `long_rows` zeros and `empty` inputs of shape [0]: rows x inputs floats.
std::string amplification_body(int long_rows, int empty) {
  std::string body = R"({"inputs":[{"name":"long","shape":[)" + std::to_string(long_rows) +
                     R"(],"datatype":"FP32","data":[)";
  for (int i = 0; i < long_rows; ++i) body += i == 0 ? "0" : ",0";
  body += "]}";
  for (int i = 0; i < empty; ++i) body += R"(,{"name":"e","shape":[0],"datatype":"FP32","data":[]})";
  return body + "]}";
}

TEST(AmplificationRssTest, IssueBodyOfOneLongAndFourThousandEmptyInputsStaysUnder64MiB) {
  const auto m = measure([](std::string& body, std::string&) {
    body = amplification_body(100'000, 4000);  // ~420 KiB; 1.6 GB as rows x inputs.
    return HttpRequest{"POST", "/v2/models/cancer/infer", body};
  });
  EXPECT_EQ(m.status, 422);
  ASSERT_GE(m.growth_kib, 0) << "the child did not report";
  std::printf("peak RSS growth: %ld KiB\n", m.growth_kib);
  EXPECT_LT(m.growth_kib, kLimitKib);
}

// At the 4 MiB body limit the peak is the JSON document's (nlohmann's DOM: 16 bytes a value, an
// object a few hundred), about 14 bytes a body byte here: linear in the body, never in its shapes.
TEST(AmplificationRssTest, FourMiBBodyAskingForOneHundredGigabytesStaysLinearInTheBody) {
  const std::string sample = amplification_body(1'000'000, 36'000);  // ~4 MiB; 144 GB as a matrix.
  const long body_kib = static_cast<long>(sample.size() / 1024);
  const auto m = measure([&sample](std::string& body, std::string&) {
    body = sample;
    return HttpRequest{"POST", "/v2/models/cancer/infer", body};
  });
  EXPECT_EQ(m.status, 422);
  ASSERT_GE(m.growth_kib, 0) << "the child did not report";
  std::printf("body %ld KiB, peak RSS growth: %ld KiB\n", body_kib, m.growth_kib);
  EXPECT_LT(m.growth_kib, 20 * body_kib);
}

// A binary input whose shape claims 2^40 elements in a few bytes: refused before reserving.
TEST(AmplificationRssTest, BinaryShapeLargerThanItsBytesStaysUnder64MiB) {
  const auto m = measure([](std::string& body, std::string& header) {
    const std::string json =
        R"({"inputs":[{"name":"x","shape":[1099511627776],"datatype":"BYTES",)"
        R"("parameters":{"binary_data_size":8}}]})";
    body = json + std::string(8, '\0');
    header = std::to_string(json.size());
    HttpRequest request{"POST", "/v2/models/cancer/infer", body};
    request.inference_header_content_length = header;
    return request;
  });
  EXPECT_EQ(m.status, 400);
  ASSERT_GE(m.growth_kib, 0) << "the child did not report";
  EXPECT_LT(m.growth_kib, kLimitKib);
}

}  // namespace
}  // namespace kiln::runtime
