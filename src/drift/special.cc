#include "drift/special.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numbers>
#include <tuple>
#include <vector>

namespace kiln::drift::special {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kEps = std::numeric_limits<double>::epsilon();
constexpr int kScaleExp = 128;
const double kBig = std::ldexp(1.0, kScaleExp);     // 2^128
const double kSmall = std::ldexp(1.0, -kScaleExp);  // 2^-128
constexpr double kPi2 = std::numbers::pi * std::numbers::pi;
constexpr double kPi4 = kPi2 * kPi2;
constexpr double kPi6 = kPi4 * kPi2;
const double kSqrt2Pi = std::sqrt(2 * std::numbers::pi);

double clip01(double p) { return std::clamp(p, 0.0, 1.0); }

// log(n! / n^n) by Stirling's series (scipy _ksstats._log_nfactorial_div_n_pow_n).
double log_nfactorial_div_n_pow_n(double n) {
  static constexpr double kCoeffs[] = {-2.955065359477124183e-2,  6.4102564102564102564e-3,
                                       -1.9175269175269175269e-3, 8.4175084175084175084e-4,
                                       -5.952380952380952381e-4,  7.9365079365079365079e-4,
                                       -2.7777777777777777778e-3, 8.3333333333333333333e-2};
  const double rn = 1.0 / n;
  const double t = rn / n;
  double poly = 0;
  for (double c : kCoeffs) poly = poly * t + c;
  return std::log(n) / 2 - n + std::log(2 * std::numbers::pi) / 2 + rn * poly;
}

// Pr(D_n <= d) by the Durbin matrix in the Marsaglia–Tsang–Wang formulation.
double kolmogorov_cdf_durbin(int64_t n, double d) {
  if (d >= 1.0) return 1.0;
  const double nd = static_cast<double>(n) * d;
  if (nd <= 0.5) return 0.0;
  const int k = static_cast<int>(std::ceil(nd));
  const double h = k - nd;
  const int m = 2 * k - 1;
  std::vector<double> v(m), w(m);
  double fac = 1.0;
  for (int j = 1; j <= m; ++j) {
    v[j - 1] = 1.0 - std::pow(h, j);
    w[j - 1] = fac;
    fac /= j;
    v[j - 1] *= fac;
  }
  const double tt = std::pow(std::max(2 * h - 1.0, 0.0), m) - 2 * std::pow(h, m);
  v[m - 1] = (1.0 + tt) * fac;
  using Matrix = std::vector<double>;  // row-major m x m
  Matrix hm(static_cast<size_t>(m) * m, 0.0);
  auto at = [m](Matrix& a, int r, int c) -> double& { return a[static_cast<size_t>(r) * m + c]; };
  for (int i = 1; i < m; ++i) {
    for (int r = i - 1; r < m; ++r) at(hm, r, i) = w[r - (i - 1)];
  }
  for (int r = 0; r < m; ++r) at(hm, r, 0) = v[r];
  for (int c = 0; c < m; ++c) at(hm, m - 1, c) = v[m - 1 - c];
  auto multiply = [m, &at](Matrix& a, Matrix& b) {
    Matrix out(static_cast<size_t>(m) * m, 0.0);
    for (int r = 0; r < m; ++r) {
      for (int t = 0; t < m; ++t) {
        const double art = at(a, r, t);
        if (art == 0.0) continue;
        for (int c = 0; c < m; ++c) at(out, r, c) += art * at(b, t, c);
      }
    }
    return out;
  };
  Matrix power(static_cast<size_t>(m) * m, 0.0);
  for (int i = 0; i < m; ++i) at(power, i, i) = 1.0;
  int64_t nn = n;
  int64_t exponent = 0, h_exponent = 0;
  while (nn > 0) {
    if (nn % 2) {
      power = multiply(power, hm);
      exponent += h_exponent;
    }
    hm = multiply(hm, hm);
    h_exponent *= 2;
    if (std::abs(at(hm, k - 1, k - 1)) > kBig) {
      for (double& x : hm) x /= kBig;
      h_exponent += kScaleExp;
    }
    nn /= 2;
  }
  long double p = at(power, k - 1, k - 1);
  for (int64_t i = 1; i <= n; ++i) {
    p = static_cast<long double>(i) * p / static_cast<long double>(n);
    if (std::abs(p) < kSmall) {
      p *= kBig;
      exponent -= kScaleExp;
    }
  }
  if (exponent != 0) p = std::ldexp(p, static_cast<int>(exponent));
  return clip01(static_cast<double>(p));
}

// The row interval of the Pomeranz recursion (scipy _pomeranz_compute_j1j2).
std::pair<int64_t, int64_t> pomeranz_j1j2(int64_t i, int64_t n, int64_t ll, int64_t ceilf,
                                          int64_t roundf) {
  int64_t j1, j2;
  if (i == 0) {
    j1 = -ll - ceilf - 1;
    j2 = ll + ceilf - 1;
  } else {
    const int64_t half = (i + 1) / 2, odd = (i + 1) % 2;
    if (odd == 0) {
      if (half == n + 1) {
        j1 = n - ll - ceilf - 1;
        j2 = n + ll + ceilf - 1;
      } else {
        j1 = half - 1 - ll - roundf - 1;
        j2 = half + ll - 1 + ceilf - 1;
      }
    } else {
      j1 = half - 1 - ll - 1;
      j2 = half + ll + roundf - 1;
    }
  }
  return {std::max<int64_t>(j1 + 2, 0), std::min(j2, n)};
}

// Pr(D_n <= x) by the Pomeranz recursion (Pomeranz 1974; scipy _kolmogn_Pomeranz).
double kolmogorov_cdf_pomeranz(int64_t n, double x) {
  const double t = static_cast<double>(n) * x;
  const int64_t ll = static_cast<int64_t>(std::floor(t));
  const double f = t - static_cast<double>(ll);
  const double g = std::min(f, 1.0 - f);
  const int64_t ceilf = f > 0 ? 1 : 0;
  const int64_t roundf = f > 0.5 ? 1 : 0;
  const int64_t npwrs = 2 * (ll + 1);
  std::vector<double> gpower(npwrs), twogpower(npwrs), onem2gpower(npwrs);
  gpower[0] = twogpower[0] = onem2gpower[0] = 1.0;
  const double dn = static_cast<double>(n);
  for (int64_t m = 1; m < npwrs; ++m) {
    gpower[m] = gpower[m - 1] * (g / dn) / m;
    twogpower[m] = twogpower[m - 1] * (2 * g / dn) / m;
    onem2gpower[m] = onem2gpower[m - 1] * ((1 - 2 * g) / dn) / m;
  }
  std::vector<double> v0(npwrs, 0.0), v1(npwrs, 0.0);
  v1[0] = 1;
  int64_t v0s = 0, v1s = 0;
  int64_t expnt = 0;
  auto [j1, j2] = pomeranz_j1j2(0, n, ll, ceilf, roundf);
  for (int64_t i = 1; i < 2 * n + 2; ++i) {
    const int64_t k1 = j1;
    std::swap(v0, v1);
    std::swap(v0s, v1s);
    std::fill(v1.begin(), v1.end(), 0.0);
    std::tie(j1, j2) = pomeranz_j1j2(i, n, ll, ceilf, roundf);
    const std::vector<double>& pwrs =
        (i == 1 || i == 2 * n + 1) ? gpower : (i % 2 ? twogpower : onem2gpower);
    const int64_t ln2 = j2 - k1 + 1;
    if (ln2 <= 0) continue;
    const int64_t conv_start = j1 - k1, conv_len = j2 - j1 + 1;
    const double* a = v0.data() + (k1 - v0s);
    double vmax = 0;
    for (int64_t c = 0; c < conv_len; ++c) {
      const int64_t idx = conv_start + c;  // index into the full convolution of a and pwrs
      double s = 0;
      for (int64_t q = std::max<int64_t>(0, idx - (ln2 - 1)); q <= std::min(idx, ln2 - 1); ++q) {
        s += a[q] * pwrs[idx - q];
      }
      v1[c] = s;
      vmax = std::max(vmax, s);
    }
    if (vmax > 0 && vmax < kSmall) {
      for (double& e : v1) e *= kBig;
      expnt -= kScaleExp;
    }
    v1s = v0s + j1 - k1;
  }
  double ans = v1[n - v1s];
  for (int64_t m = 1; m <= n; ++m) {
    if (std::abs(ans) > kBig) {
      ans *= kSmall;
      expnt += kScaleExp;
    }
    ans *= static_cast<double>(m);
  }
  if (expnt != 0) ans = std::ldexp(ans, static_cast<int>(expnt));
  return clip01(ans);
}

// Pr(D_n <= x) by the Pelz–Good asymptotic series (Pelz & Good 1976; scipy _kolmogn_PelzGood).
double kolmogorov_cdf_pelz_good(int64_t n, double x) {
  if (x <= 0.0) return 0.0;
  if (x >= 1.0) return 1.0;
  const double dn = static_cast<double>(n);
  const double z = std::sqrt(dn) * x;
  const double z2 = z * z, z3 = z2 * z, z4 = z2 * z2, z6 = z4 * z2;
  const double qlog = -kPi2 / 8 / z2;
  if (qlog < -708) return 0.0;
  double q = std::exp(qlog);
  const double k1a = -z2, k1b = kPi2 / 4;
  const double k2a = 6 * z6 + 2 * z4, k2b = (2 * z4 - 5 * z2) * kPi2 / 4;
  const double k2c = kPi4 * (1 - 2 * z2) / 16;
  const double k3d = kPi6 * (5 - 30 * z2) / 64;
  const double k3c = kPi4 * (-60 * z2 + 212 * z4) / 16;
  const double k3b = kPi2 * (135 * z4 - 96 * z6) / 4;
  const double k3a = -30 * z6 - 90 * std::pow(z, 8);
  double kk[4] = {0, 0, 0, 0};
  const int maxk = static_cast<int>(std::ceil(16 * z / std::numbers::pi));
  for (int k = maxk; k > 0; --k) {
    const double m = 2.0 * k - 1, m2 = m * m, m4 = m2 * m2, m6 = m4 * m2;
    const double qpower = std::pow(q, 8.0 * k);
    const double coeffs[4] = {1.0, k1a + k1b * m2, k2a + k2b * m2 + k2c * m4,
                              k3a + k3b * m2 + k3c * m4 + k3d * m6};
    for (int i = 0; i < 4; ++i) kk[i] = kk[i] * qpower + coeffs[i];
  }
  const double denom[4] = {z, 6 * z4, 72 * std::pow(z, 7), 6480 * std::pow(z, 10)};
  for (int i = 0; i < 4; ++i) kk[i] = kk[i] * q * kSqrt2Pi / denom[i];
  q = std::exp(-kPi2 / 2 / z2);
  double k2extra = 0, k3extra = 0;
  const double sqrt3z = std::sqrt(3.0) * z;
  for (int k = maxk; k > 0; --k) {
    const double ks2 = static_cast<double>(k) * k;
    const double qp = std::pow(q, ks2);
    const double kspi = std::numbers::pi * k;
    k2extra += ks2 * qp;
    k3extra += (sqrt3z + kspi) * (sqrt3z - kspi) * ks2 * qp;
  }
  kk[2] += k2extra * kPi2 * kSqrt2Pi / (-36 * z3);
  kk[3] += k3extra * kPi2 * kSqrt2Pi / (216 * z6);
  double sum = 0;
  for (int i = 0; i < 4; ++i) sum += kk[i] / std::pow(dn, i / 2.0);
  return sum;
}

}  // namespace

double gamma_q(double a, double x) {
  if (!(a > 0) || !(x >= 0) || std::isnan(x)) return kNaN;
  if (x == 0) return 1.0;
  if (std::isinf(x)) return 0.0;
  const double log_prefix = a * std::log(x) - x - std::lgamma(a);
  if (x < a + 1.0) {
    // P(a, x) by its power series; Q = 1 - P.
    double term = 1.0 / a, sum = term;
    for (int i = 1; i < 10000; ++i) {
      term *= x / (a + i);
      sum += term;
      if (std::abs(term) < std::abs(sum) * kEps) break;
    }
    return 1.0 - sum * std::exp(log_prefix);
  }
  // Q(a, x) by its continued fraction, modified Lentz.
  constexpr double kTiny = 1e-300;
  double b = x + 1.0 - a, c = 1.0 / kTiny, d = 1.0 / b, h = d;
  for (int i = 1; i < 10000; ++i) {
    const double an = -i * (i - a);
    b += 2.0;
    d = an * d + b;
    if (std::abs(d) < kTiny) d = kTiny;
    c = b + an / c;
    if (std::abs(c) < kTiny) c = kTiny;
    d = 1.0 / d;
    const double delta = d * c;
    h *= delta;
    if (std::abs(delta - 1.0) < kEps) break;
  }
  return std::exp(log_prefix) * h;
}

double chi2_sf(double x, double df) {
  if (!(df > 0)) return kNaN;
  if (x <= 0) return 1.0;
  return gamma_q(df / 2, x / 2);
}

double normal_cdf(double x) { return 0.5 * std::erfc(-x / std::numbers::sqrt2); }

double smirnov_sf(int64_t n, double e) {
  if (!(n > 0 && e >= 0.0 && e <= 1.0)) return kNaN;
  if (e == 0.0) return 1.0;
  const double dn = static_cast<double>(n);
  const int64_t nn = static_cast<int64_t>(std::floor(dn * (1.0 - e)));
  // Terms C(n,v) e (e+v/n)^(v-1) (1-e-v/n)^(n-v), summed in logs; they rise then fall, so the
  // sum stops once past the peak they no longer change it.
  const double lg_n1 = std::lgamma(dn + 1);
  double p = 0, best = -INFINITY;
  for (int64_t v = 0; v <= nn; ++v) {
    const double evn = e + static_cast<double>(v) / dn;
    const double omevn = 1.0 - evn;
    if (!(std::abs(omevn) > 0.0)) continue;
    const double t = lg_n1 - std::lgamma(v + 1.0) - std::lgamma(dn - v + 1) +
                     (v - 1) * std::log(evn) + (dn - v) * std::log(omevn);
    best = std::max(best, t);
    if (t > -745) p += std::exp(t);
    if (t < best - 60) break;  // exp(-60) ~ 1e-26 relative, and terms keep falling.
  }
  return p * e;
}

double kolmogorov_sf(int64_t n, double x) {
  if (n <= 0 || std::isnan(x)) return kNaN;
  if (x >= 1.0) return 0.0;
  if (x <= 0.0) return 1.0;
  const double dn = static_cast<double>(n);
  const double t = dn * x;
  if (t <= 1.0) {  // Ruben–Gambino: 1/2n <= x <= 1/n.
    if (t <= 0.5) return 1.0;
    double prob;
    if (n <= 140) {
      prob = 1.0;
      for (int64_t i = 1; i <= n; ++i) prob *= static_cast<double>(i) * (1.0 / dn) * (2 * t - 1);
    } else {
      prob = std::exp(log_nfactorial_div_n_pow_n(dn) + dn * std::log(2 * t - 1));
    }
    return clip01(1.0 - prob);
  }
  if (t >= dn - 1) return clip01(2 * std::pow(1.0 - x, dn));  // Ruben–Gambino.
  if (x >= 0.5) return clip01(2 * smirnov_sf(n, x));
  const double nx2 = t * x;
  if (n <= 140) {
    if (nx2 <= 0.754693) return clip01(1.0 - kolmogorov_cdf_durbin(n, x));
    if (nx2 <= 4) return clip01(1.0 - kolmogorov_cdf_pomeranz(n, x));
    return clip01(2 * smirnov_sf(n, x));
  }
  if (nx2 >= 370.0) return 0.0;
  if (nx2 >= 2.2) return clip01(2 * smirnov_sf(n, x));
  double cdf;
  if (n <= 100000 && dn * std::pow(x, 1.5) <= 1.4) {
    cdf = kolmogorov_cdf_durbin(n, x);
  } else {
    cdf = kolmogorov_cdf_pelz_good(n, x);
  }
  return clip01(1.0 - cdf);
}

}  // namespace kiln::drift::special
