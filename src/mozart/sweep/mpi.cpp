#include "mozart/sweep/mpi.hpp"

#include <cstdlib>

#include "mozart/core/error.hpp"

#ifdef MOZART_HAVE_MPI
#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <exception>
#include <mutex>
#include <thread>

#include <mpi.h>

#include "mozart/core/progress.hpp"
#endif

namespace mozart::sweep {

bool started_by_mpirun() {
  return std::getenv("OMPI_COMM_WORLD_SIZE") != nullptr || std::getenv("PMI_SIZE") != nullptr ||
         std::getenv("PMIX_RANK") != nullptr;
}

#ifndef MOZART_HAVE_MPI

bool mpi_built() {
  return false;
}

std::optional<RunSummary> run_mpi(const SweepSpec&, const std::string&, const Evaluate&,
                                  const RunOptions&) {
  throw core::InputError("mozart sweep",
                         "started by mpirun, but this mozart was built without MPI (install "
                         "libopenmpi-dev and rebuild)");
}

#else

bool mpi_built() {
  return true;
}

namespace {

enum Tag : int { kReady = 1, kResult = 2, kWork = 3, kStop = 4 };

struct Session {
  Session() {
    int provided = 0;
    MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
  }
  ~Session() { MPI_Finalize(); }
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;
  int rank = 0;
  int size = 1;
};

void send_text(const std::string& text, int to, int tag) {
  MPI_Send(text.data(), int(text.size()), MPI_CHAR, to, tag, MPI_COMM_WORLD);
}

// Asks rank 0 for points until it says stop, and sends back each point's record.
void serve_points(const SweepSpec& spec, const Evaluate& evaluate) {
  send_text("", 0, kReady);
  while (true) {
    std::uint64_t index = 0;
    MPI_Status status;
    MPI_Recv(&index, 1, MPI_UINT64_T, 0, MPI_ANY_TAG, MPI_COMM_WORLD, &status);
    if (status.MPI_TAG == kStop)
      return;
    std::string record;
    try {
      record = run_point(spec, std::size_t(index), evaluate);
    } catch (const std::exception& e) {  // a bug: the whole job stops, saying why
      std::fprintf(stderr, "mozart: internal error: %s\n", e.what());
      MPI_Abort(MPI_COMM_WORLD, 1);
    }
    send_text(std::to_string(index) + "\n" + record, 0, kResult);
  }
}

// Rank 0's queue of points, shared by its dispatching and its own threads.
class Queue {
 public:
  explicit Queue(std::vector<std::size_t> todo) : todo_(todo.begin(), todo.end()) {}
  void clear() {
    std::lock_guard lock(mutex_);
    todo_.clear();
  }
  std::optional<std::size_t> take() {
    std::lock_guard lock(mutex_);
    if (todo_.empty())
      return std::nullopt;
    const std::size_t k = todo_.front();
    todo_.pop_front();
    return k;
  }

 private:
  std::mutex mutex_;
  std::deque<std::size_t> todo_;
};

// Receives one message if there is one: a record to write, then hands the sender its next
// point or tells it to stop. Returns whether a rank stopped; a record that cannot be written
// empties the queue (every rank stops) and is kept in `failure`.
bool dispatch_one(const ResultsDir* results, Queue& queue, std::atomic<std::size_t>& done,
                  bool& received, std::exception_ptr& failure) {
  int waiting = 0;
  MPI_Status status;
  MPI_Iprobe(MPI_ANY_SOURCE, MPI_ANY_TAG, MPI_COMM_WORLD, &waiting, &status);
  received = waiting != 0;
  if (!waiting)
    return false;
  int bytes = 0;
  MPI_Get_count(&status, MPI_CHAR, &bytes);
  std::string text(std::size_t(bytes), '\0');
  MPI_Recv(text.data(), bytes, MPI_CHAR, status.MPI_SOURCE, status.MPI_TAG, MPI_COMM_WORLD,
           MPI_STATUS_IGNORE);
  if (status.MPI_TAG == kResult && results != nullptr) {
    const std::size_t eol = text.find('\n');
    try {
      results->write_point(std::stoul(text.substr(0, eol)), text.substr(eol + 1));
    } catch (...) {  // a record rank 0 cannot write: every rank is told to stop, then the error
      if (!failure)
        failure = std::current_exception();
      queue.clear();
    }
    ++done;
  }
  const std::optional<std::size_t> next = queue.take();
  std::uint64_t index = next.value_or(0);
  MPI_Send(&index, 1, MPI_UINT64_T, status.MPI_SOURCE, next ? kWork : kStop, MPI_COMM_WORLD);
  return !next;
}

RunSummary lead(const Session& session, const SweepSpec& spec, const std::string& out_dir,
                const Evaluate& evaluate, const RunOptions& options) {
  std::optional<ResultsDir> results;
  std::exception_ptr failure;
  std::vector<std::size_t> todo;
  try {
    results.emplace(out_dir, spec);
    todo = results->unfinished();
  } catch (...) {  // every rank is still told to stop before the error is reported
    failure = std::current_exception();
  }
  Queue queue(todo);
  std::atomic<std::size_t> done{0};
  core::Progress progress(progress_label(spec), todo.size());
  if (!options.progress)
    progress.finish();
  core::set_progress_enabled(false);
  const unsigned threads = failure ? 0 : std::max(1u, options.jobs);
  std::vector<std::thread> local;
  std::mutex failing;
  std::exception_ptr local_failure;  // an internal error or a disk that refuses: stop handing out
  std::atomic<unsigned> finished_threads{0};
  for (unsigned t = 0; t < threads; ++t)
    local.emplace_back([&] {
      while (auto k = queue.take()) {
        try {
          results->write_point(*k, run_point(spec, *k, evaluate));
        } catch (...) {
          std::lock_guard lock(failing);
          if (!local_failure)
            local_failure = std::current_exception();
          queue.clear();
        }
        ++done;
      }
      ++finished_threads;
    });
  int running = session.size - 1;
  std::size_t drawn = 0;
  while (running > 0 || finished_threads < threads) {
    bool received = false;
    if (running > 0 && dispatch_one(results ? &*results : nullptr, queue, done, received, failure))
      --running;
    if (!received)  // Iprobe does not spin a core the way a blocking receive does
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    progress.advance(done - drawn);
    drawn = done;
  }
  for (auto& t : local)
    t.join();
  progress.finish();
  if (failure)
    std::rethrow_exception(failure);
  if (local_failure)
    std::rethrow_exception(local_failure);
  return finish(spec, *results, todo.size(), unsigned(session.size - 1) + threads);
}

}  // namespace

std::optional<RunSummary> run_mpi(const SweepSpec& spec, const std::string& out_dir,
                                  const Evaluate& evaluate, const RunOptions& options) {
  const Session session;
  if (session.rank != 0) {
    serve_points(spec, evaluate);
    return std::nullopt;
  }
  return lead(session, spec, out_dir, evaluate, options);
}

#endif

}  // namespace mozart::sweep
