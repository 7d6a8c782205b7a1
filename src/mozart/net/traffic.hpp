// Traffic as input: a list of flows between named nodes, from CSV or JSON, each with its size,
// an optional start time and the flows it waits for.
//
// CSV: a header naming the columns `source,destination,bytes` and optionally `start`, `after`
// and `id`; `after` lists ids separated by spaces or semicolons; a flow without an id (no `id`
// column, or an empty cell) takes its row number (1 for the first data row). Sizes and times
// take units ("1 MB", "2 us"). Lines starting with # are comments.
// JSON (or YAML): {"flows": [{"source": ..., "destination": ..., "bytes": ..., "start": ...,
// "after": [ids], "id": ...}]} or the list alone; a flow without an id (or with "") takes its
// position, 1 for the first.
// Ids are unique, written or numbered: an explicit id equal to another flow's number is
// refused, since an `after` naming it would be ambiguous.
//
// A flow starts at its start time, or once every flow it waits for has finished, whichever is
// later. Unknown nodes, a flow from a node to itself (it crosses no channel), sizes that are not
// positive, unknown ids and dependency cycles are InputErrors naming the file, the line where
// known, and the field. A plan too large for memory is refused before it is built
// (require_plan_memory).
#pragma once

#include <string>
#include <vector>

#include "mozart/net/collectives.hpp"

namespace mozart::net {

struct TrafficFlow {
  std::string id;
  int src = -1;  // node ids
  int dst = -1;
  double bytes = 0;
  double start_s = 0;
  std::vector<int> after;  // indices into Traffic::flows, each earlier than this flow
};

struct Traffic {
  std::vector<TrafficFlow> flows;  // every flow after those it waits for
};

// Reads a traffic file (.csv, or JSON / YAML) for the nodes of `hw`.
Traffic read_traffic(const std::string& path, const hw::HwSpec& hw);

// The flows as a plan (in the traffic's order, with its dependencies), over the network's
// paths; the start times are the traffic's to apply.
CollectivePlan plan_traffic(const Network& net, const Traffic& traffic);

}  // namespace mozart::net
