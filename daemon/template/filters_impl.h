// Internal: the filter functions, split between filters.cpp (strings and
// scalars, plus the registry) and filters_seq.cpp (sequences and mappings).
// All have the FilterFn signature and work on one render's values through
// its Interpreter; thread-compatible.
#pragma once

#include "template/ast.h"
#include "template/interpreter.h"

namespace hearth::templating::filters {

#define HEARTH_FILTER(name) Result<Value> name(Interpreter& in, const Value& v, CallArgs& args)

// filters_seq.cpp
HEARTH_FILTER(f_batch);
HEARTH_FILTER(f_dictsort);
HEARTH_FILTER(f_first);
HEARTH_FILTER(f_groupby);
HEARTH_FILTER(f_items);
HEARTH_FILTER(f_join);
HEARTH_FILTER(f_last);
HEARTH_FILTER(f_length);
HEARTH_FILTER(f_list);
HEARTH_FILTER(f_map);
HEARTH_FILTER(f_max);
HEARTH_FILTER(f_min);
HEARTH_FILTER(f_reject);
HEARTH_FILTER(f_rejectattr);
HEARTH_FILTER(f_reverse);
HEARTH_FILTER(f_select);
HEARTH_FILTER(f_selectattr);
HEARTH_FILTER(f_slice);
HEARTH_FILTER(f_sort);
HEARTH_FILTER(f_sum);
HEARTH_FILTER(f_unique);

#undef HEARTH_FILTER

}  // namespace hearth::templating::filters
