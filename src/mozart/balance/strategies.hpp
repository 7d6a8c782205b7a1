// The balancers behind make_balancer (see balancer.hpp for what each does).
#pragma once

#include "mozart/balance/balancer.hpp"

namespace mozart::balance {

class NoBalancer final : public Balancer {
 public:
  std::string name() const override { return "none"; }
  bool invasive() const override { return false; }
  Decision decide(const View&) const override { return {}; }
};

class InvasiveBalancer final : public Balancer {
 public:
  explicit InvasiveBalancer(BalancerOptions options) : options_(options) {}
  std::string name() const override { return "eplb"; }
  bool invasive() const override { return true; }
  Decision decide(const View& view) const override;

 private:
  BalancerOptions options_;
};

class NonInvasiveBalancer final : public Balancer {
 public:
  explicit NonInvasiveBalancer(BalancerOptions options) : options_(options) {}
  std::string name() const override { return "ni"; }
  bool invasive() const override { return false; }
  Decision decide(const View& view) const override;

 private:
  BalancerOptions options_;
};

}  // namespace mozart::balance
