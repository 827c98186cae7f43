// SPDX-License-Identifier: UNLICENSED
pragma solidity 0.8.24;

import {Controller} from "./Controller.sol";
import {Manager} from "./Manager.sol";

interface IRoundsManager {
    function currentRound() external view returns (uint256);

    function currentRoundInitialized() external view returns (bool);

    function blockHashForRound(uint256 round) external view returns (bytes32);
}

interface IBondingManager {
    function isActiveTranscoder(address transcoder) external view returns (bool);

    function getTranscoderPoolSize() external view returns (uint256);
}

/// @title TicketBroker: Livepeer probabilistic-micropayment deposits, reserves and redemption.
/// @notice Our own implementation of the mainnet ABI, events, checks and payout rules
/// (clearinghouse spec 04), for the devnet and the tests. Divergences from Arbitrum One:
/// - the broker holds the ETH and pays a winning ticket straight to its recipient (mainnet:
///   the Minter holds the ETH and the BondingManager credits the recipient's fees);
/// - signature failures have one revert string per cause (length, s, v, signer);
/// - claimableReserve never underflows and never exceeds the remaining reserve (mainnet's
///   SafeMath reverts instead when the pool grows or the reserve was withdrawn mid-round);
/// - batch redemption requires arrays of equal length;
/// - funding the null address is refused, and fundDepositAndReserveFor emits DepositFunded
///   before ReserveFunded (mainnet emits them the other way round);
/// - parameters are constructor arguments plus owner setters (mainnet: proxy initialization).
contract TicketBroker is Manager {
    struct Ticket {
        address recipient;
        address sender;
        uint256 faceValue;
        uint256 winProb;
        uint256 senderNonce;
        bytes32 recipientRandHash;
        bytes auxData;
    }

    struct Sender {
        uint256 deposit;
        uint256 withdrawRound;
    }

    struct ReserveInfo {
        uint256 fundsRemaining;
        uint256 claimedInCurrentRound;
    }

    // claimedForRound / claimedByAddress survive a withdrawal (delete leaves mappings), as on
    // mainnet; claims are therefore capped by the remaining funds.
    struct Reserve {
        uint256 funds;
        mapping(uint256 => uint256) claimedForRound;
        mapping(uint256 => mapping(address => uint256)) claimedByAddress;
    }

    bytes32 private constant ROUNDS_MANAGER_ID = keccak256("RoundsManager");
    bytes32 private constant BONDING_MANAGER_ID = keccak256("BondingManager");
    uint256 private constant AUX_DATA_LENGTH = 64;
    uint256 private constant SIGNATURE_LENGTH = 65;
    // secp256k1 order / 2: signatures with a larger s are malleable twins and are refused.
    uint256 private constant SECP256K1_HALF_ORDER =
        0x7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF5D576E7357A4501DDFE92F46681B20A0;

    uint256 public unlockPeriod;
    uint256 public ticketValidityPeriod;
    mapping(bytes32 => bool) public usedTickets;
    mapping(address => Sender) private senders;
    mapping(address => Reserve) private reserves;

    event DepositFunded(address indexed sender, uint256 amount);
    event ReserveFunded(address indexed reserveHolder, uint256 amount);
    event ReserveClaimed(address indexed reserveHolder, address claimant, uint256 amount);
    event WinningTicketRedeemed(
        address indexed sender,
        address indexed recipient,
        uint256 faceValue,
        uint256 winProb,
        uint256 senderNonce,
        uint256 recipientRand,
        bytes auxData
    );
    event WinningTicketTransfer(address indexed sender, address indexed recipient, uint256 amount);
    event Unlock(address indexed sender, uint256 startRound, uint256 endRound);
    event UnlockCancelled(address indexed sender);
    event Withdrawal(address indexed sender, uint256 deposit, uint256 reserve);
    event ParameterUpdate(string param);

    modifier whenSystemNotPaused() {
        require(!controller.paused(), "system is paused");
        _;
    }

    modifier currentRoundInitialized() {
        require(roundsManager().currentRoundInitialized(), "current round is not initialized");
        _;
    }

    constructor(Controller controller_, uint256 unlockPeriod_, uint256 ticketValidityPeriod_) Manager(controller_) {
        unlockPeriod = unlockPeriod_;
        _setTicketValidityPeriod(ticketValidityPeriod_);
    }

    // ---- parameters -------------------------------------------------------------------------

    function setUnlockPeriod(uint256 unlockPeriod_) external onlyControllerOwner {
        unlockPeriod = unlockPeriod_;
        emit ParameterUpdate("unlockPeriod");
    }

    function setTicketValidityPeriod(uint256 ticketValidityPeriod_) external onlyControllerOwner {
        _setTicketValidityPeriod(ticketValidityPeriod_);
    }

    // ---- funding ----------------------------------------------------------------------------

    /// @notice deposit += msg.value; cancels the caller's unlock.
    function fundDeposit() external payable whenSystemNotPaused {
        _cancelUnlockIfInProgress(msg.sender);
        _addDeposit(msg.sender, msg.value);
    }

    /// @notice reserve += msg.value; cancels the caller's unlock.
    function fundReserve() external payable whenSystemNotPaused {
        _cancelUnlockIfInProgress(msg.sender);
        _addReserve(msg.sender, msg.value);
    }

    function fundDepositAndReserve(uint256 depositAmount, uint256 reserveAmount) external payable {
        fundDepositAndReserveFor(msg.sender, depositAmount, reserveAmount);
    }

    /// @notice Anyone may fund anyone; cancels the funded address's unlock (as mainnet does).
    function fundDepositAndReserveFor(address addr, uint256 depositAmount, uint256 reserveAmount)
        public
        payable
        whenSystemNotPaused
    {
        require(addr != address(0), "cannot fund the null address");
        require(
            msg.value == depositAmount + reserveAmount,
            "msg.value does not equal sum of deposit amount and reserve amount"
        );
        _cancelUnlockIfInProgress(addr);
        _addDeposit(addr, depositAmount);
        _addReserve(addr, reserveAmount);
    }

    // ---- unlock and withdrawal --------------------------------------------------------------

    /// @notice Start the unlock: funds become withdrawable at currentRound + unlockPeriod.
    function unlock() external whenSystemNotPaused {
        Sender storage sender = senders[msg.sender];
        require(sender.deposit > 0 || reserves[msg.sender].funds > 0, "sender deposit and reserve are zero");
        require(!_isUnlockInProgress(sender), "unlock already initiated");
        uint256 round = roundsManager().currentRound();
        sender.withdrawRound = round + unlockPeriod;
        emit Unlock(msg.sender, round, sender.withdrawRound);
    }

    function cancelUnlock() external whenSystemNotPaused {
        require(_isUnlockInProgress(senders[msg.sender]), "no unlock request in progress");
        _cancelUnlockIfInProgress(msg.sender);
    }

    /// @notice Pay the caller its whole deposit and reserve once its unlock period is over.
    function withdraw() external whenSystemNotPaused {
        Sender storage sender = senders[msg.sender];
        uint256 deposit = sender.deposit;
        uint256 reserve = reserves[msg.sender].funds;
        require(deposit > 0 || reserve > 0, "sender deposit and reserve are zero");
        require(_isUnlockInProgress(sender), "no unlock request in progress");
        require(!_isLocked(sender), "account is locked");
        // withdrawRound stays set, as on mainnet: the sender remains "unlocked" (so its old
        // tickets cannot be redeemed) until it funds again, which cancels the unlock.
        sender.deposit = 0;
        reserves[msg.sender].funds = 0;
        _sendEth(msg.sender, deposit + reserve, "withdrawal transfer failed");
        emit Withdrawal(msg.sender, deposit, reserve);
    }

    // ---- redemption -------------------------------------------------------------------------

    /// @notice Redeem a winning ticket; any caller, the recipient is paid.
    function redeemWinningTicket(Ticket memory ticket, bytes memory sig, uint256 recipientRand)
        public
        whenSystemNotPaused
        currentRoundInitialized
    {
        bytes32 ticketHash = getTicketHash(ticket);
        _requireValidWinningTicket(ticket, ticketHash, sig, recipientRand);
        Sender storage sender = senders[ticket.sender];
        require(_isLocked(sender), "sender is unlocked");
        require(sender.deposit > 0 || reserves[ticket.sender].funds > 0, "sender deposit and reserve are zero");
        usedTickets[ticketHash] = true;
        uint256 amount = _takePayout(ticket.sender, ticket.recipient, ticket.faceValue);
        if (amount > 0) {
            _sendEth(ticket.recipient, amount, "winning ticket transfer failed");
            emit WinningTicketTransfer(ticket.sender, ticket.recipient, amount);
        }
        emit WinningTicketRedeemed(
            ticket.sender,
            ticket.recipient,
            ticket.faceValue,
            ticket.winProb,
            ticket.senderNonce,
            recipientRand,
            ticket.auxData
        );
    }

    /// @notice Redeem each ticket in turn; a ticket that fails is skipped, not fatal.
    function batchRedeemWinningTickets(Ticket[] memory tickets, bytes[] memory sigs, uint256[] memory recipientRands)
        public
        whenSystemNotPaused
        currentRoundInitialized
    {
        require(
            tickets.length == sigs.length && tickets.length == recipientRands.length,
            "tickets, sigs and recipientRands must have equal lengths"
        );
        for (uint256 i = 0; i < tickets.length; i++) {
            try this.redeemWinningTicket(tickets[i], sigs[i], recipientRands[i]) {} catch {}
        }
    }

    // ---- views ------------------------------------------------------------------------------

    function getSenderInfo(address addr) external view returns (Sender memory sender, ReserveInfo memory reserve) {
        sender = senders[addr];
        reserve.fundsRemaining = reserves[addr].funds;
        reserve.claimedInCurrentRound = reserves[addr].claimedForRound[roundsManager().currentRound()];
    }

    /// @notice (fundsRemaining + claimedInCurrentRound) / poolSize - already claimed this round,
    /// for an active transcoder; 0 for anyone else. Never more than the remaining reserve.
    function claimableReserve(address reserveHolder, address claimant) public view returns (uint256) {
        IBondingManager bondingManager = IBondingManager(_registered(BONDING_MANAGER_ID, "BondingManager"));
        if (!bondingManager.isActiveTranscoder(claimant)) {
            return 0;
        }
        uint256 poolSize = bondingManager.getTranscoderPoolSize();
        if (poolSize == 0) {
            return 0;
        }
        uint256 round = roundsManager().currentRound();
        Reserve storage reserve = reserves[reserveHolder];
        uint256 allocation = (reserve.funds + reserve.claimedForRound[round]) / poolSize;
        uint256 claimed = reserve.claimedByAddress[round][claimant];
        if (allocation <= claimed) {
            return 0;
        }
        uint256 claimable = allocation - claimed;
        return claimable < reserve.funds ? claimable : reserve.funds;
    }

    function claimedReserve(address reserveHolder, address claimant) external view returns (uint256) {
        return reserves[reserveHolder].claimedByAddress[roundsManager().currentRound()][claimant];
    }

    function isUnlockInProgress(address addr) external view returns (bool) {
        return _isUnlockInProgress(senders[addr]);
    }

    /// @notice keccak256(abi.encodePacked(recipient, sender, faceValue, winProb, senderNonce,
    /// recipientRandHash, auxData)), identical to go-livepeer's ticket hash.
    function getTicketHash(Ticket memory ticket) public pure returns (bytes32) {
        return keccak256(
            abi.encodePacked(
                ticket.recipient,
                ticket.sender,
                ticket.faceValue,
                ticket.winProb,
                ticket.senderNonce,
                ticket.recipientRandHash,
                ticket.auxData
            )
        );
    }

    // ---- internals --------------------------------------------------------------------------

    function _requireValidWinningTicket(
        Ticket memory ticket,
        bytes32 ticketHash,
        bytes memory sig,
        uint256 recipientRand
    ) private view {
        require(ticket.recipient != address(0), "ticket recipient is null address");
        require(ticket.sender != address(0), "ticket sender is null address");
        _requireValidAuxData(ticket.auxData);
        require(
            keccak256(abi.encodePacked(recipientRand)) == ticket.recipientRandHash,
            "recipientRand does not match recipientRandHash"
        );
        require(!usedTickets[ticketHash], "ticket is used");
        _requireValidSignature(ticket.sender, sig, ticketHash);
        require(uint256(keccak256(abi.encodePacked(sig, recipientRand))) < ticket.winProb, "ticket did not win");
    }

    function _requireValidAuxData(bytes memory auxData) private view {
        require(auxData.length == AUX_DATA_LENGTH, "invalid length for ticket auxData: must be 64 bytes");
        uint256 creationRound;
        bytes32 creationRoundBlockHash;
        assembly {
            creationRound := mload(add(auxData, 32))
            creationRoundBlockHash := mload(add(auxData, 64))
        }
        IRoundsManager rounds = roundsManager();
        bytes32 blockHash = rounds.blockHashForRound(creationRound);
        require(blockHash != bytes32(0), "ticket creationRound does not have a block hash");
        require(creationRoundBlockHash == blockHash, "ticket creationRoundBlockHash invalid for creationRound");
        // creationRound comes from the ticket: compare without an addition that could overflow.
        uint256 round = rounds.currentRound();
        require(creationRound > round || round - creationRound < ticketValidityPeriod, "ticket is expired");
    }

    function _requireValidSignature(address signer, bytes memory sig, bytes32 ticketHash) private pure {
        require(sig.length == SIGNATURE_LENGTH, "invalid signature length: must be 65 bytes");
        bytes32 r;
        bytes32 s;
        uint8 v;
        assembly {
            r := mload(add(sig, 32))
            s := mload(add(sig, 64))
            v := byte(0, mload(add(sig, 96)))
        }
        require(uint256(s) <= SECP256K1_HALF_ORDER, "invalid signature: s must be in the lower half order");
        require(v == 27 || v == 28, "invalid signature: v must be 27 or 28");
        bytes32 digest = keccak256(abi.encodePacked("\x19Ethereum Signed Message:\n32", ticketHash));
        address recovered = ecrecover(digest, v, r, s);
        require(recovered != address(0) && recovered == signer, "invalid signature over ticket hash");
    }

    /// Debit faceValue from the deposit, then from the recipient's claimable reserve; whatever
    /// neither covers is lost to the recipient. Returns the amount to pay.
    function _takePayout(address senderAddr, address recipient, uint256 faceValue) private returns (uint256) {
        Sender storage sender = senders[senderAddr];
        if (faceValue <= sender.deposit) {
            sender.deposit -= faceValue;
            return faceValue;
        }
        uint256 fromDeposit = sender.deposit;
        sender.deposit = 0;
        return fromDeposit + _claimFromReserve(senderAddr, recipient, faceValue - fromDeposit);
    }

    function _claimFromReserve(address reserveHolder, address claimant, uint256 amount) private returns (uint256) {
        uint256 claimable = claimableReserve(reserveHolder, claimant);
        uint256 claimAmount = amount < claimable ? amount : claimable;
        if (claimAmount == 0) {
            return 0;
        }
        uint256 round = roundsManager().currentRound();
        Reserve storage reserve = reserves[reserveHolder];
        reserve.claimedForRound[round] += claimAmount;
        reserve.claimedByAddress[round][claimant] += claimAmount;
        reserve.funds -= claimAmount;
        emit ReserveClaimed(reserveHolder, claimant, claimAmount);
        return claimAmount;
    }

    function _addDeposit(address addr, uint256 amount) private {
        senders[addr].deposit += amount;
        emit DepositFunded(addr, amount);
    }

    function _addReserve(address addr, uint256 amount) private {
        reserves[addr].funds += amount;
        emit ReserveFunded(addr, amount);
    }

    function _cancelUnlockIfInProgress(address addr) private {
        Sender storage sender = senders[addr];
        if (_isUnlockInProgress(sender)) {
            sender.withdrawRound = 0;
            emit UnlockCancelled(addr);
        }
    }

    function _setTicketValidityPeriod(uint256 ticketValidityPeriod_) private {
        require(ticketValidityPeriod_ > 0, "ticketValidityPeriod must be greater than 0");
        ticketValidityPeriod = ticketValidityPeriod_;
        emit ParameterUpdate("ticketValidityPeriod");
    }

    function _sendEth(address to, uint256 amount, string memory failure) private {
        (bool ok, ) = payable(to).call{value: amount}("");
        require(ok, failure);
    }

    function _isUnlockInProgress(Sender storage sender) private view returns (bool) {
        return sender.withdrawRound > 0;
    }

    // Funds back tickets ("locked") until the unlock period is over.
    function _isLocked(Sender storage sender) private view returns (bool) {
        return sender.withdrawRound == 0 || roundsManager().currentRound() < sender.withdrawRound;
    }

    function roundsManager() private view returns (IRoundsManager) {
        return IRoundsManager(_registered(ROUNDS_MANAGER_ID, "RoundsManager"));
    }

    function _registered(bytes32 id, string memory name) private view returns (address addr) {
        addr = controller.getContract(id);
        require(addr != address(0), string.concat(name, " is not registered in the Controller"));
    }
}
