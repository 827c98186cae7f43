// SPDX-License-Identifier: UNLICENSED
pragma solidity 0.8.24;

/// @title FeedStandIn: a Chainlink AggregatorV3-shaped feed whose rounds its owner writes.
/// @notice Tests make the feed fresh (setAnswer), stale or inconsistent (setRoundData with any
/// timestamps and round ids) or zero/negative, to exercise every branch of a feed reader.
abstract contract FeedStandIn {
    struct RoundData {
        int256 answer;
        uint256 startedAt;
        uint256 updatedAt;
        uint80 answeredInRound;
        bool exists;
    }

    address public owner;
    uint80 public latestRound;
    mapping(uint80 => RoundData) private rounds;

    event AnswerUpdated(int256 indexed current, uint256 indexed roundId, uint256 updatedAt);
    event NewRound(uint256 indexed roundId, address indexed startedBy, uint256 startedAt);

    modifier onlyOwner() {
        require(msg.sender == owner, "caller is not the feed owner");
        _;
    }

    constructor() {
        owner = msg.sender;
    }

    function decimals() external view virtual returns (uint8);

    function description() external view virtual returns (string memory);

    function version() external pure returns (uint256) {
        return 1;
    }

    /// @notice Store a round verbatim and make it the latest; roundId must be non-zero.
    function setRoundData(
        uint80 roundId,
        int256 answer,
        uint256 startedAt,
        uint256 updatedAt,
        uint80 answeredInRound
    ) public onlyOwner {
        require(roundId != 0, "roundId must be non-zero");
        rounds[roundId] = RoundData(answer, startedAt, updatedAt, answeredInRound, true);
        latestRound = roundId;
        emit NewRound(roundId, msg.sender, startedAt);
        emit AnswerUpdated(answer, roundId, updatedAt);
    }

    function latestRoundData()
        external
        view
        returns (uint80 roundId, int256 answer, uint256 startedAt, uint256 updatedAt, uint80 answeredInRound)
    {
        return getRoundData(latestRound);
    }

    function getRoundData(uint80 roundId)
        public
        view
        returns (uint80, int256 answer, uint256 startedAt, uint256 updatedAt, uint80 answeredInRound)
    {
        RoundData storage data = rounds[roundId];
        require(data.exists, "No data present");
        return (roundId, data.answer, data.startedAt, data.updatedAt, data.answeredInRound);
    }

    function latestRoundStartedAt() internal view returns (uint256) {
        return rounds[latestRound].startedAt;
    }

    function latestAnswer() public view returns (int256) {
        return rounds[latestRound].answer;
    }
}

/// @title EthUsdFeedStandIn: ETH/USD price with 8 decimals, like Chainlink's on Arbitrum One.
contract EthUsdFeedStandIn is FeedStandIn {
    constructor(int256 initialAnswer) {
        setAnswer(initialAnswer);
    }

    function decimals() external pure override returns (uint8) {
        return 8;
    }

    function description() external pure override returns (string memory) {
        return "ETH / USD";
    }

    /// @notice Publish a fresh answer (USD per ETH × 10^8) as a new round stamped now.
    function setAnswer(int256 answer) public onlyOwner {
        uint80 roundId = latestRound + 1;
        setRoundData(roundId, answer, block.timestamp, block.timestamp, roundId);
    }
}

/// @title SequencerUptimeFeedStandIn: Chainlink's L2 sequencer uptime feed shape.
/// @notice answer 0 = sequencer up, 1 = down; startedAt = when the status last changed, so a
/// reader can enforce a grace period after the sequencer comes back.
contract SequencerUptimeFeedStandIn is FeedStandIn {
    constructor() {
        setStatus(0);
    }

    function decimals() external pure override returns (uint8) {
        return 0;
    }

    function description() external pure override returns (string memory) {
        return "L2 Sequencer Uptime Status Feed";
    }

    /// @notice Report the sequencer up (0) or down (1); startedAt moves only on a change.
    function setStatus(int256 status) public onlyOwner {
        require(status == 0 || status == 1, "status must be 0 (up) or 1 (down)");
        uint80 roundId = latestRound + 1;
        bool changed = latestRound == 0 || latestAnswer() != status;
        uint256 startedAt = changed ? block.timestamp : latestRoundStartedAt();
        setRoundData(roundId, status, startedAt, block.timestamp, roundId);
    }
}
